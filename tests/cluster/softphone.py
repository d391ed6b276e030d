"""An agent's softphone on pjsua2, in its own process (pjsua is one per process):

    python tests/cluster/softphone.py REGISTRAR USERNAME PASSWORD PORT

REGISTERs USERNAME with PASSWORD (digest) at REGISTRAR (Kamailio, "host:port") from
127.0.0.1:PORT, answers every incoming call after 0.3 s and keeps it up until the
other side hangs up. Events go to stdout as JSON lines: registration {code},
incoming {from}, confirmed, disconnected {code}.
"""

from __future__ import annotations

import json
import sys
import time

import pjsua2 as pj

REGISTRAR, USER, PASSWORD, PORT = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


def say(**event) -> None:
    print(json.dumps(event), flush=True)


class Phone(pj.Call):
    def onCallState(self, prm):
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED:
            say(event="confirmed")
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            say(event="disconnected", code=info.lastStatusCode)
            CALLS.discard(self)


class Account(pj.Account):
    def onRegState(self, prm):
        say(event="registration", code=prm.code)

    def onIncomingCall(self, prm):
        call = Phone(self, prm.callId)
        CALLS.add(call)
        say(event="incoming", remote=call.getInfo().remoteUri)
        ringing = pj.CallOpParam()
        ringing.statusCode = 180
        call.answer(ringing)
        DUE.append((time.monotonic() + 0.3, call))


CALLS: set[Phone] = set()
DUE: list[tuple[float, Phone]] = []


def main() -> None:
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = cfg.logConfig.consoleLevel = 1
    ep.libInit(cfg)
    transport = pj.TransportConfig()
    transport.port, transport.boundAddress = PORT, "127.0.0.1"
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport)
    ep.libStart()
    ep.audDevManager().setNullDev()
    acc_cfg = pj.AccountConfig()
    acc_cfg.idUri = f"sip:{USER}@{REGISTRAR}"
    acc_cfg.regConfig.registrarUri = f"sip:{REGISTRAR}"
    acc_cfg.regConfig.retryIntervalSec = 0  # one try: a refusal is reported, not retried
    acc_cfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", USER, 0, PASSWORD))
    acc_cfg.mediaConfig.transportConfig.port = PORT + 2
    acc_cfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    account = Account()
    account.create(acc_cfg)
    try:
        while True:
            ep.libHandleEvents(20)
            now = time.monotonic()
            for item in [d for d in DUE if d[0] <= now]:
                DUE.remove(item)
                ok = pj.CallOpParam()
                ok.statusCode = 200
                item[1].answer(ok)
    except KeyboardInterrupt:
        pass
    finally:
        account.shutdown()
        ep.libDestroy()


if __name__ == "__main__":
    main()
