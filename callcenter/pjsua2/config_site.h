/*
 * pjproject compile-time limits for the hotline SIP intake (copied into
 * pjlib/include/pj/config_site.h by callcenter/pjsua2/build.sh).
 *
 * The defaults (and the PyPI wheel `pjsua2-python`) allow 4 calls, 32 players,
 * 32 recorders, 8 accounts, 254 conference ports and a 64-handle ioqueue: a call
 * centre needs hundreds of each. A call holds one conference port for its audio plus
 * one per player and recorder attached to it: a greeted, recorded call takes 3, so
 * 1,024 calls need 3,073 ports with the master port (measured with 512 calls and
 * 1,100 ports: ran out at ~370 greeted and recorded calls). A bridged conversation is
 * two calls (caller and agent legs), so one node carries ~500 conversations; a
 * cluster (DESIGN §10) adds nodes for more. Changing this file changes the cache key,
 * so the next setup rebuilds.
 */
#define PJSUA_MAX_CALLS 1024
#define PJSUA_MAX_ACC 32
#define PJSUA_MAX_CONF_PORTS 4096
#define PJSUA_MAX_PLAYERS 2048
#define PJSUA_MAX_RECORDERS 2048

/* Sockets: two RTP/RTCP sockets per call plus SIP transports and TCP connections
 * (the process needs a matching open-files limit: LimitNOFILE in deploy/). */
#define PJ_IOQUEUE_MAX_HANDLES 8192
#define PJ_IOQUEUE_MAX_EVENTS_IN_SINGLE_POLL 64

/* Hash table sizes for transactions and dialogs (bursts of INVITEs at ~200 CPS). */
#define PJSIP_MAX_TSX_COUNT (8 * 1024 - 1)
#define PJSIP_MAX_DIALOG_COUNT (4 * 1024 - 1)

/* Server build: no video, no sound device (the null device drives the bridge). */
#define PJMEDIA_HAS_VIDEO 0

/* pjmedia's event manager queue (default 16): a player's end-of-file callback is a
 * posted event, so more than 16 prompts ending in the same media tick lost the rest
 * ("Lost event ... due to full queue"; the call then waited for ever for its prompt).
 * Seen with an outbound campaign placing 20-30 calls at once (benchmarks/callcenter/
 * campaign_load.py); the IVR's prompts are players too. */
#define PJMEDIA_EVENT_MAX_EVENTS 4096
