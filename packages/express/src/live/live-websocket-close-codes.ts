/**
 * The close codes of the live WebSocket ({@link attachLiveWebSocket}). The 44xx codes mirror an HTTP status; before
 * closing with one of them the server sends `{"type":"error","problem":{…}}` (an RFC 9457 problem, see
 * {@link Problem}) and the close reason is the problem's `code`.
 *
 * | code | when | should the client reconnect |
 * | --- | --- | --- |
 * | 4400 `INVALID_MESSAGE` | a message that is not the one auth message, or a malformed `lastEventId` | no, fix the client |
 * | 4401 `UNAUTHENTICATED` | no credentials, or the host's `authenticate` refused them | with a fresh token |
 * | 4408 `AUTH_TIMEOUT` | no auth message within `authTimeoutMs` | yes, and authenticate at once |
 * | 4413 `TOO_SLOW` | more than `maxBufferedBytes` waited to be sent; no error message (reason `TOO_SLOW`) | yes, with `lastEventId` |
 * | 1011 `UNAVAILABLE` | the stream could not start or go on (e.g. the database is away) | yes, later, with `lastEventId` |
 * | 1001 `GOING_AWAY` | the host called `close()` (shutting down) | yes, with `lastEventId` |
 *
 * A client that leaves two heartbeat pings in a row without a pong is cut without a close frame (1006 on the client).
 */
export const LIVE_WEBSOCKET_CLOSE_CODES = Object.freeze({
  INVALID_MESSAGE: 4400,
  UNAUTHENTICATED: 4401,
  AUTH_TIMEOUT: 4408,
  TOO_SLOW: 4413,
  UNAVAILABLE: 1011,
  GOING_AWAY: 1001,
} as const);
