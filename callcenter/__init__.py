"""Call centre: one SIP intake (pjsua2) for every hotline number, agents, call records.

domain.py    pure rules: which hotline a call is for, who calls, call record states
ivr.py       pure: the DTMF menu, queue and callback state machine of one call
agents.py    pure: agent states (available, ringing, talking, wrap-up, paused, out)
acd.py       pure: queues, longest-idle agent with the skill, overflow, queue status
desk.py      use cases: agent state, screen pop, order linking, emergency, transfer,
             three-way call with a unit (三方通话)
outbound.py  the outbound call shell every dialer shares (dial, prompts, keys, retry)
survey.py    the survey call's key machine and the dialer (回访), one kind of outbound
campaigns.py outbound campaigns (外呼任务): questionnaire, targets, pacing, results
campaign_routes.py  /api/v1/campaigns and /api/v1/do-not-call (and the admin screens'
             use cases)
languages.py the IVR's languages (多语种)
events.py    what the SIP endpoint thread reports (plain data, calls named by leg)
bridge.py    SipEndpoint: pjsua2 on its own thread, commands in, events out
pjstack.py   the pjsua2 objects (only ever touched on the endpoint thread)
service.py   CallCenter: intake decisions and call records; callcenter_ctx for the app
storage.py   the `calls` and `callbacks` tables
routes.py    /api/v1/calls (+ recording, emergency, transfer, conference), callbacks,
             agents, queues
prompts.py   placeholder Mandarin prompts (espeak-ng + sox)
recordings.py  where recordings go; repairing interrupted ones
pjsua2/      build.sh: pjsua2 compiled with call-centre limits, cached per machine
"""
