"""A test SIP phone on pjsua2, run in its own process (pjsua is one per process).

    python tests/callcenter/softphone.py PORT RTP_PORT CITIZEN_WAV AGENT_WAV [UNIT_WAV]

It plays as the agents' softphones and as the citizen:
- incoming call to `agent*`: answered after 0.3 s, then plays AGENT_WAV looped;
- incoming call to `mute*`: rings (180) and is never answered;
- incoming call to `unit*` (a unit's phone in a three-way call): answered after 0.3 s,
  then plays UNIT_WAV looped; to `busy*`: refused with 486 Busy Here;
- incoming call to a number (a survey call): answered, then presses the digits of the
  last `survey` command (default "11"), one every 2 s;
- stdin `dial URI DIGITS`: calls URI (From: the citizen), plays CITIZEN_WAV, and once
  answered sends DIGITS (RFC 2833) one per second; `hangup`: hangs up every call it placed
  (`hangup ROLE`: every call of that role, e.g. `hangup unit`); `quit`.
Events go to stdout as JSON lines: ready, incoming, confirmed, disconnected.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time

import pjsua2 as pj

PORT, RTP_PORT = int(sys.argv[1]), int(sys.argv[2])
TONES = {"citizen": sys.argv[3], "survey": sys.argv[3], "agent": sys.argv[4], "mute": sys.argv[4]}
TONES["unit"] = sys.argv[5] if len(sys.argv) > 5 else sys.argv[4]
CITIZEN = "13800138000"


def say(**event) -> None:
    print(json.dumps(event), flush=True)


class Phone(pj.Call):
    def __init__(self, account, call_id=pj.PJSUA_INVALID_ID, role="", digits=""):
        super().__init__(account, call_id)
        self.role, self.digits = role, digits
        self.player = None
        self.due: list[tuple[float, str]] = []  # (when, digit)
        self.confirmed = False

    def onCallState(self, prm):
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED:
            self.confirmed = True
            say(event="confirmed", role=self.role, remote=info.remoteUri)
            gap = 2.0 if self.role == "survey" else 1.0
            start = time.monotonic() + (1.5 if self.role == "survey" else 0.5)
            self.due = [(start + i * gap, d) for i, d in enumerate(self.digits)]
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            say(event="disconnected", role=self.role, code=info.lastStatusCode)
            self.player = None
            PHONES.discard(self)

    def onCallMediaState(self, prm):
        info = self.getInfo()
        for media in info.media:
            active = media.status == pj.PJSUA_CALL_MEDIA_ACTIVE
            if media.type == pj.PJMEDIA_TYPE_AUDIO and active and self.player is None:
                self.player = pj.AudioMediaPlayer()
                self.player.createPlayer(TONES[self.role], 0)
                self.player.startTransmit(self.getAudioMedia(media.index))


class Account(pj.Account):
    def onIncomingCall(self, prm):
        message = prm.rdata.wholeMsg
        user = message.split(" ", 2)[1].split(":", 1)[1].split("@", 1)[0]
        if user.startswith("agent"):
            role, digits = "agent", ""
        elif user.startswith("mute"):
            role, digits = "mute", ""
        elif user.startswith("unit"):
            role, digits = "unit", ""
        elif user.startswith("busy"):
            role, digits = "busy", ""
        else:
            role, digits = "survey", STATE["survey"]
        call = Phone(self, prm.callId, role, digits)
        PHONES.add(call)
        headers = {
            line.split(":", 1)[0].lower(): line.split(":", 1)[1].strip()
            for line in message.split("\r\n")
            if line.lower().startswith("x-")
        }
        say(event="incoming", role=role, user=user, headers=headers)
        op = pj.CallOpParam()
        op.statusCode = 486 if role == "busy" else 180
        call.answer(op)
        if role not in ("mute", "busy"):
            ANSWER.append((time.monotonic() + 0.3, call))


PHONES: set[Phone] = set()
ANSWER: list[tuple[float, Phone]] = []
STATE = {"survey": "11"}


def main() -> None:
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = cfg.logConfig.consoleLevel = 1
    cfg.medConfig.sndAutoCloseTime = -1
    cfg.medConfig.clockRate = cfg.medConfig.sndClockRate = 8000
    cfg.medConfig.channelCount = 1
    cfg.medConfig.noVad = True  # a steady test tone would be taken for silence
    ep.libInit(cfg)
    transport = pj.TransportConfig()
    transport.port, transport.boundAddress = PORT, "127.0.0.1"
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport)
    ep.libStart()
    ep.audDevManager().setNullDev()
    acc_cfg = pj.AccountConfig()
    acc_cfg.idUri = f"sip:{CITIZEN}@127.0.0.1:{PORT}"
    rtp = acc_cfg.mediaConfig.transportConfig
    rtp.port, rtp.portRange, rtp.boundAddress = RTP_PORT, 40, "127.0.0.1"
    account = Account()
    account.create(acc_cfg, True)

    commands: queue.SimpleQueue[str] = queue.SimpleQueue()

    def read_stdin() -> None:
        for line in sys.stdin:
            commands.put(line.strip())
        commands.put("quit")

    threading.Thread(target=read_stdin, daemon=True).start()
    say(event="ready")
    running = True
    while running:
        while not commands.empty():
            words = commands.get().split()
            if not words:
                continue
            if words[0] == "quit":
                running = False
            elif words[0] == "dial":
                call = Phone(account, role="citizen", digits=words[2] if len(words) > 2 else "")
                PHONES.add(call)
                call.makeCall(words[1], pj.CallOpParam(True))
            elif words[0] == "survey":
                STATE["survey"] = words[1] if len(words) > 1 else ""
            elif words[0] == "hangup":
                role = words[1] if len(words) > 1 else "citizen"
                for call in list(PHONES):
                    if call.role == role and (role == "citizen" or call.confirmed):
                        call.hangup(pj.CallOpParam())
        now = time.monotonic()
        for item in [a for a in ANSWER if a[0] <= now]:
            ANSWER.remove(item)
            if item[1] in PHONES:
                op = pj.CallOpParam()
                op.statusCode = 200
                item[1].answer(op)
        for call in list(PHONES):
            while call.confirmed and call.due and call.due[0][0] <= now:
                _, digit = call.due.pop(0)
                call.dialDtmf(digit)
                say(event="dtmf", role=call.role, digit=digit)
        ep.libHandleEvents(10)
    ep.hangupAllCalls()
    end = time.monotonic() + 2
    while PHONES and time.monotonic() < end:
        ep.libHandleEvents(10)
    PHONES.clear()
    account.shutdown()
    # The calls ended above and nothing is registered: without NO_NETWORK pjsua sleeps
    # about a second for unregistrations and transports that are not there.
    ep.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)


if __name__ == "__main__":
    main()
