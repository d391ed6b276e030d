"""Placeholder voice prompts in Mandarin, made with espeak-ng and sox (Debian packages).

    python -m callcenter.prompts [--config FILE] [--dir DIR]

writes <dir>/<number>/greeting.wav and menu.wav for every configured hotline and the
shared IVR prompts in <dir>/common/ (invalid, queue, callback_offer, callback_ok, and
hold music synthesised in Python; queue.<code>.wav ... for each offered language, whose
menu options are spoken in their own voice: callcenter/languages.py) — 8 kHz, mono,
16-bit PCM: what the conference bridge runs at, so no resampling per call. A prompt is
only rewritten when its text changes; recorded prompts dropped in place of these are
kept as long as their `.txt` sidecar is removed. A file in <dir>/<number>/ overrides
the common one for that hotline.
"""

from __future__ import annotations

import argparse
import io
import math
import re
import shutil
import subprocess
import sys
import tempfile
import wave
from collections.abc import Iterable
from pathlib import Path

from callcenter import ivr, languages
from callcenter.exceptions import CallCenterError

GREETING = "您好,欢迎致电{name}。本次通话将被录音,请稍候。"
SAMPLE_RATE = 8000
COMMON = "common"
# Shared IVR prompts (callcenter.ivr names them).
COMMON_TEXTS = {
    # Short: espeak-ng pauses long at every comma, and callers hear these often.
    ivr.INVALID: "输入有误,请重新选择。",
    ivr.QUEUE: "正在转接人工,请稍候。",
    ivr.CALLBACK_OFFER: "等待较长,回电请按1。",
    ivr.CALLBACK_OK: "已为您登记回电,再见。",
    # The survey call (callcenter/survey.py).
    "survey_q1": "您好,这里是一二三四五热线回访。对办理结果满意请按1,基本满意请按2,不满意请按3。",
    "survey_q2": "问题已解决请按1,未解决请按2。",
    "survey_thanks": "感谢您的评价,再见。",
}


class PromptToolMissing(CallCenterError):
    status = 503  # the voice tools of the machine, not the request, are wrong
    code = "prompt_tool_missing"


def tools_available() -> bool:
    return all(shutil.which(tool) for tool in ("espeak-ng", "sox"))


MANDARIN_VOICE = "cmn"
Segment = tuple[str, str]  # (espeak-ng voice, text)


def synthesize(text: str, target: Path, voice: str = MANDARIN_VOICE) -> None:
    """Speak `text` (Mandarin by default) into `target` as an 8 kHz mono 16-bit WAV."""
    speak([(voice, text)], target)


def speak(segments: list[Segment], target: Path) -> None:
    """Speak each (voice, text) in turn into `target`, one 8 kHz mono 16-bit WAV."""
    if not tools_available():
        raise PromptToolMissing("espeak-ng and sox are needed: apt-get install espeak-ng sox")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raws = []
        for i, (voice, text) in enumerate(segments):
            raws.append(str(Path(tmp) / f"speech{i}.wav"))
            subprocess.run(
                ["espeak-ng", "-v", voice, "-s", "175", "-w", raws[-1], text], check=True
            )
        partial = target.with_suffix(".tmp.wav")
        subprocess.run(
            [
                "sox",
                "-V1",
                "-G",
                *raws,
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


def menu_text(number: str) -> str:
    return ivr.menu_for(number).prompt_text() + "重听请按星号键。"


def menu_segments(number: str, offered: Iterable[str] = ()) -> list[Segment]:
    """The menu in Mandarin, then each offered language's option in its own voice."""
    segments = [(MANDARIN_VOICE, menu_text(number))]
    for code in offered:
        language = languages.LANGUAGES[code]
        segments.append((language.voice, language.menu))
    return segments


def language_texts(code: str) -> dict[str, str]:
    """The shared prompts a caller who chose `code` hears, by their localized names."""
    language = languages.LANGUAGES[code]
    texts = {
        ivr.QUEUE: language.queue_text,
        ivr.CALLBACK_OFFER: language.callback_offer,
        ivr.CALLBACK_OK: language.callback_ok,
    }
    return {languages.localized(name, code): text for name, text in texts.items()}


def _ensure(text: str | list[Segment], wav: Path) -> Path:
    """Write `wav` unless it already says `text` (its .txt sidecar; none: a recording)."""
    segments = [(MANDARIN_VOICE, text)] if isinstance(text, str) else text
    said = "\n".join(t if v == MANDARIN_VOICE else f"[{v}] {t}" for v, t in segments)
    sidecar = wav.with_suffix(".txt")
    fresh = wav.exists() and (not sidecar.exists() or sidecar.read_text(encoding="utf-8") == said)
    if not fresh:
        speak(segments, wav)
        sidecar.write_text(said, encoding="utf-8")
    return wav


def hold_music(seconds: float = 4.0) -> bytes:
    """A soft arpeggio (C–E–G–C), as a WAV file: placeholder music on hold."""
    notes = [261.63, 329.63, 392.0, 523.25]
    note_len = int(SAMPLE_RATE * seconds / len(notes))
    frames = bytearray()
    for freq in notes:
        for i in range(note_len):
            envelope = min(1.0, i / 200) * max(0.0, 1 - i / note_len) ** 0.5
            sample = int(6000 * envelope * math.sin(2 * math.pi * freq * i / SAMPLE_RATE))
            frames += sample.to_bytes(2, "little", signed=True)
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(bytes(frames))
    return out.getvalue()


def ensure_ivr_prompts(
    numbers: Iterable[str], directory: Path, offered: Iterable[str] = ()
) -> list[Path]:
    """Menus per hotline and the shared IVR prompts (`offered`: language codes besides
    普通话, in the menus and with prompts of their own); returns all paths."""
    offered = list(offered)
    paths = [_ensure(menu_segments(n, offered), directory / n / f"{ivr.MENU}.wav") for n in numbers]
    for name, text in COMMON_TEXTS.items():
        paths.append(_ensure(text, directory / COMMON / f"{name}.wav"))
    for code in offered:
        voice = languages.LANGUAGES[code].voice
        for name, text in language_texts(code).items():
            paths.append(_ensure([(voice, text)], directory / COMMON / f"{name}.wav"))
    hold = directory / COMMON / f"{ivr.HOLD}.wav"
    if not hold.exists():
        hold.parent.mkdir(parents=True, exist_ok=True)
        hold.write_bytes(hold_music())
    paths.append(hold)
    return paths


def prompt_file(directory: Path, hotline: str, name: str) -> Path | None:
    """The hotline's own `name` prompt, else the common one; None if neither exists."""
    for path in (directory / hotline / f"{name}.wav", directory / COMMON / f"{name}.wav"):
        if path.is_file():
            return path
    return None


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
        numbers = (h.number for h in settings.hotlines)
        paths += ensure_ivr_prompts(numbers, directory, sip.languages)
    except PromptToolMissing as exc:
        print(exc.message, file=sys.stderr)
        return 1
    print(f"{len(paths)} prompts in {directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
