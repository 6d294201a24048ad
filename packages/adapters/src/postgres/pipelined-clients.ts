import type { PostgresPool, PostgresPoolClient } from 'kysely';

/** A pooled `pg` client as the adapter sees it: `pipeline` is true on a client in pipeline mode (pg 8.23+). */
type PgClient = PostgresPoolClient & {
  readonly pipeline?: boolean;
  query(...args: unknown[]): Promise<unknown>;
};

/** What a deferred or elided transaction-control statement answers, as `pg` reports it. */
function answered(command: string) {
  return { command, rowCount: null, oid: null, rows: [], fields: [] };
}

/** A transaction's opening statement with nothing bound: `begin` or `start transaction …`. */
const BEGIN = /^\s*(begin|start\s+transaction)\b/i;
/** A bare end of transaction: `commit` or `rollback` (not `rollback to savepoint`). */
const END = /^\s*(commit|rollback)\s*;?\s*$/i;

interface ClientState {
  readonly wrapper: PostgresPoolClient;
  /** The BEGIN of the open transaction, not sent yet: it goes with the transaction's first statement. */
  begin: string | undefined;
  /**
   * The answer to a BEGIN sent with a first statement, until it comes: later statements wait for it, and are not
   * sent at all if it failed (their promises reject with its error).
   */
  begun: Promise<unknown> | undefined;
  /** Statements sent and not answered yet on a client not in pipeline mode. */
  inFlight: number;
  /** Settles when the last statement sent on a client not in pipeline mode is answered. */
  tail: Promise<unknown>;
}

/**
 * `pool` with every client it hands out made ready for statements sent without waiting for each other
 * (`StorageAdapter.pipelining`). The clients themselves are not changed (the pool may be the host's); each is
 * wrapped once, for as long as it lives.
 *
 * On a client in pipeline mode (`client.pipeline === true`: node-postgres sends every query at once and answers each
 * in order), a transaction's BEGIN is not sent alone: it is answered at once and sent with the transaction's first
 * statement, whose answer then waits for both. If the BEGIN failed, the statement's promise rejects with the
 * BEGIN's error, after the statement's own answer came in, and statements sent meanwhile wait for the BEGIN's
 * answer and are never sent when it failed: only that first statement can have run outside the transaction (see
 * docs/storage.md, "Pipelining"). A transaction that sends no statement at all sends no BEGIN either: its COMMIT or
 * ROLLBACK is answered here.
 *
 * On a client not in pipeline mode, statements sent while another is in flight wait for it here, one after the
 * other, as node-postgres's own queue would run them (without its deprecation warning).
 */
export function pipelinedClients(pool: PostgresPool): PostgresPool {
  const states = new WeakMap<PostgresPoolClient, ClientState>();
  return {
    connect: async () => {
      const client = (await pool.connect()) as PgClient;
      let state = states.get(client);
      if (state === undefined) {
        state = wrap(client);
        states.set(client, state);
      }
      state.begin = undefined;
      state.begun = undefined;
      return state.wrapper;
    },
    end: () => pool.end(),
  };
}

function wrap(client: PgClient): ClientState {
  const state: ClientState = {
    begin: undefined,
    begun: undefined,
    inFlight: 0,
    tail: Promise.resolve(),
    wrapper: {
      query: ((...args: unknown[]) =>
        client.pipeline === true ? pipelined(client, state, args) : oneByOne(client, state, args)) as never,
      release: (destroy?: boolean) => {
        state.begin = undefined;
        state.begun = undefined;
        (client.release as (destroy?: boolean) => void)(destroy);
      },
    },
  };
  return state;
}

/** A statement on a client in pipeline mode: a BEGIN is held back until the next statement goes. */
function pipelined(client: PgClient, state: ClientState, args: unknown[]): Promise<unknown> {
  const [text, values] = args;
  const bare = typeof text === 'string' && (values === undefined || (Array.isArray(values) && values.length === 0));
  const begin = state.begin;
  if (begin === undefined) {
    const begun = state.begun;
    if (begun !== undefined) {
      // Sent once the BEGIN is answered; never if it failed, except a ROLLBACK (harmless outside a transaction).
      const send = () => client.query(...args);
      return begun.then(send, bare && /^\s*rollback\b/i.test(text) ? send : (error: unknown) => Promise.reject(error));
    }
    if (bare && BEGIN.test(text)) {
      state.begin = text;
      return Promise.resolve(answered('BEGIN'));
    }
    return client.query(...args);
  }
  state.begin = undefined;
  if (bare && END.test(text)) return Promise.resolve(answered(END.exec(text)![1]!.toUpperCase()));
  const begun = client.query(begin);
  state.begun = begun;
  const settled = () => {
    if (state.begun === begun) state.begun = undefined;
  };
  begun.then(settled, settled);
  const ran = client.query(...args);
  // Both answers awaited: a statement whose BEGIN failed never reports success.
  return begun.then(
    () => ran,
    (error: unknown) =>
      ran.then(
        () => Promise.reject(error),
        () => Promise.reject(error),
      ),
  );
}

/** A statement on a client not in pipeline mode: sent at once when the client is idle, else after the last one. */
function oneByOne(client: PgClient, state: ClientState, args: unknown[]): Promise<unknown> {
  const run = () => client.query(...args);
  const answer = state.inFlight === 0 ? run() : state.tail.then(run, run);
  state.inFlight++;
  const done = () => {
    state.inFlight--;
  };
  state.tail = answer.then(done, done);
  return answer;
}
