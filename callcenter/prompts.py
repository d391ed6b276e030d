"""Placeholder voice prompts in Mandarin, made with espeak-ng and sox (Debian packages).

    python -m callcenter.prompts [--config FILE] [--dir DIR]

writes <dir>/<number>/greeting.wav for every configured hotline (8 kHz, mono, 16-bit
PCM: what the conference bridge runs at, so no resampling per call). A prompt is only
rewritten when its text changes; recorded prompts dropped in place of these are kept
as long as their `.txt` sidecar is removed.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from callcenter.exceptions import CallCenterError

GREETING = "您好,欢迎致电{name}。本次通话将被录音,请稍候。"
SAMPLE_RATE = 8000


class PromptToolMissing(CallCenterError):
    code = "prompt_tool_missing"


def tools_available() -> bool:
    return all(shutil.which(tool) for tool in ("espeak-ng", "sox"))


def synthesize(text: str, target: Path) -> None:
    """Speak `text` in Mandarin into `target` as an 8 kHz mono 16-bit WAV."""
    if not tools_available():
        raise PromptToolMissing("espeak-ng and sox are needed: apt-get install espeak-ng sox")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", "cmn", "-s", "175", "-w", str(raw), text], check=True)
        partial = target.with_suffix(".tmp.wav")
        subprocess.run(
            [
                "sox",
                "-V1",
                "-G",
                str(raw),
                "-r",
                str(SAMPLE_RATE),
                "-c",
                "1",
                "-b",
                "16",
                str(partial),
            ],
            check=True,
        )
        partial.replace(target)


def greeting_text(hotline_name: str) -> str:
    # Hotline numbers are read digit by digit (一二三四五), not as a quantity.
    spoken = re.sub(r"\d+", lambda m: " ".join(m.group()), hotline_name)
    return GREETING.format(name=spoken)


def ensure_greetings(hotlines: Iterable[tuple[str, str]], directory: Path) -> list[Path]:
    """Write a greeting for each (number, name) whose text changed; return all paths."""
    paths = []
    for number, name in hotlines:
        text = greeting_text(name)
        wav = directory / number / "greeting.wav"
        sidecar = wav.with_suffix(".txt")
        fresh = wav.exists() and (
            not sidecar.exists() or sidecar.read_text(encoding="utf-8") == text
        )
        if not fresh:
            synthesize(text, wav)
            sidecar.write_text(text, encoding="utf-8")
        paths.append(wav)
    return paths


def main(argv: list[str] | None = None) -> int:
    from config import SipSettings, load_settings

    parser = argparse.ArgumentParser(prog="python -m callcenter.prompts", description=__doc__)
    parser.add_argument("--config", help="extra TOML configuration file")
    parser.add_argument("--dir", type=Path, help="prompts directory (default: [sip] prompts_dir)")
    args = parser.parse_args(argv)
    settings = load_settings(args.config)
    sip = getattr(settings, "sip", None) or SipSettings()
    directory = args.dir or sip.prompts_path
    try:
        paths = ensure_greetings(((h.number, h.name) for h in settings.hotlines), directory)
    except PromptToolMissing as exc:
        print(exc.message, file=sys.stderr)
        return 1
    print(f"{len(paths)} greeting prompts in {directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
