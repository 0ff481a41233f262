"""Ledger: an SQLite database of people, accounts and transfers in the sandbox. The prompt
names a person and H hops (their manager, the account that received the largest transfer
from it, ...), each one query whose answer the next starts from; the walk's last entity's
salary or balance is the answer. Salaries, balances, amounts and dates are all distinct, so
every hop has one answer and a wrong hop almost surely ends on a different number."""

from __future__ import annotations

import base64
import datetime
import os
import posixpath
import shlex
import sqlite3
import tempfile
from dataclasses import dataclass
from typing import Any

from hotmess.envs.base import Tool, ToolError, params, tool_call
from hotmess.envs.kvsum import parse_number
from hotmess.envs.sandboxed import SandboxEnv
from hotmess.envs.taskgen import TaskRandom
from hotmess.outcome import Outcome

DB_NAME = "ledger.db"
ROW_LIMIT = 200
QUERY_TIMEOUT_S = 30.0

#: Runs in the sandbox with `python3 -I` (so no module the agent wrote can shadow sqlite3).
#: The SQL arrives base64-encoded on stdin: no string the agent sends is ever parsed by the
#: shell or by Python. Prints rows as the sqlite3 CLI does with headers on.
QUERY_SCRIPT = """
import base64, sqlite3, sys, urllib.parse
path, limit = sys.argv[1], int(sys.argv[2])
sql = base64.b64decode(sys.stdin.read()).decode("utf-8", "replace")
try:
    con = sqlite3.connect("file:" + urllib.parse.quote(path) + "?mode=ro", uri=True)
    con.execute("PRAGMA query_only = ON")
    cur = con.execute(sql)
    rows = cur.fetchmany(limit + 1)
except Exception as exc:
    sys.exit(str(exc) or type(exc).__name__)
if cur.description is not None:
    print("|".join(d[0] for d in cur.description))
for row in rows[:limit]:
    print("|".join("" if v is None else str(v) for v in row))
if not rows:
    print("(no rows)")
elif len(rows) > limit:
    print(f"(only the first {limit} rows are shown; add WHERE or LIMIT to narrow the query)")
"""


@dataclass(frozen=True)
class Hop:
    """One kind of hop: the entity types it goes between, how the prompt says it (plain, then
    the column hint easy adds, then hard's wording), and the oracle's SQL, which lists the
    candidates best first as (id, ..., the candidate's salary or balance)."""

    source: str
    target: str
    phrase: str
    hint: str
    oblique: str
    sql: str


HOPS: dict[str, Hop] = {
    "richest": Hop(
        "person", "account", "the account they own with the highest balance",
        "(accounts.owner_id = their id, largest accounts.balance)",
        "the account of theirs that holds the most money",
        "SELECT id, balance FROM accounts WHERE owner_id = {id} ORDER BY balance DESC LIMIT 3",
    ),
    "oldest": Hop(
        "person", "account", "the account they opened first",
        "(accounts.owner_id = their id, earliest accounts.opened)",
        "the account they have held the longest",
        "SELECT id, opened, balance FROM accounts WHERE owner_id = {id} ORDER BY opened LIMIT 3",
    ),
    "manager": Hop(
        "person", "person", "their manager",
        "(the people row whose id is their manager_id)",
        "the person they report to",
        "SELECT m.id, m.salary FROM people AS p JOIN people AS m ON m.id = p.manager_id "
        "WHERE p.id = {id}",
    ),
    "top_report": Hop(
        "person", "person", "their direct report with the highest salary",
        "(people whose manager_id is their id, largest salary)",
        "the highest-salaried person who reports straight to them",
        "SELECT id, salary FROM people WHERE manager_id = {id} ORDER BY salary DESC LIMIT 3",
    ),
    "next_salary": Hop(
        "person", "person", "the person in the same city with the next-higher salary",
        "(same people.city, smallest salary above theirs)",
        "the person in their city whose salary comes next above theirs",
        "SELECT o.id, o.salary FROM people AS p JOIN people AS o "
        "ON o.city = p.city AND o.salary > p.salary WHERE p.id = {id} ORDER BY o.salary LIMIT 3",
    ),
    "owner": Hop(
        "account", "person", "its owner",
        "(the people row whose id is the account's owner_id)",
        "the person who holds that account",
        "SELECT o.id, o.salary FROM accounts AS a JOIN people AS o ON o.id = a.owner_id "
        "WHERE a.id = {id}",
    ),
    "largest_out": Hop(
        "account", "account", "the account that received the largest transfer from it",
        "(transfers.from_account = its id, largest amount, then to_account)",
        "the account its single biggest payment went to",
        "SELECT t.to_account, t.amount, a.balance FROM transfers AS t JOIN accounts AS a "
        "ON a.id = t.to_account WHERE t.from_account = {id} ORDER BY t.amount DESC LIMIT 3",
    ),
    "largest_in": Hop(
        "account", "account", "the account that sent the largest transfer to it",
        "(transfers.to_account = its id, largest amount, then from_account)",
        "the account behind the single biggest payment it received",
        "SELECT t.from_account, t.amount, a.balance FROM transfers AS t JOIN accounts AS a "
        "ON a.id = t.from_account WHERE t.to_account = {id} ORDER BY t.amount DESC LIMIT 3",
    ),
}  # fmt: skip
HOP_KINDS = {
    "easy": ("richest", "largest_out", "owner"),
    "medium": ("richest", "largest_out", "owner", "manager", "largest_in", "next_salary"),
    "hard": tuple(HOPS),
}
#: What a walk ending on each entity type submits, and the column easy names for it.
VALUE = {
    "person": ("that person's salary", "people.salary"),
    "account": ("that account's balance", "accounts.balance"),
}
SCHEMA = {
    "people": "id INTEGER PRIMARY KEY, name TEXT, city TEXT, manager_id INTEGER, salary INTEGER",
    "accounts": "id INTEGER PRIMARY KEY, owner_id INTEGER, kind TEXT, balance INTEGER, opened TEXT",
    "transfers": "id INTEGER PRIMARY KEY, from_account INTEGER, to_account INTEGER, "
    "amount INTEGER, day TEXT",
}
#: Hard's decoys: columns that sound like the right one, and tables no hop needs.
DECOY_COLUMNS = {
    "people": ", mentor_id INTEGER, bonus INTEGER",
    "accounts": ", credit_limit INTEGER",
    "transfers": ", fee INTEGER",
}
DECOY_TABLES = {
    "branches": "id INTEGER PRIMARY KEY, city TEXT, head_id INTEGER, opened TEXT",
    "audit_log": "id INTEGER PRIMARY KEY, actor_id INTEGER, action TEXT, day TEXT",
}
ACCOUNT_KINDS = ("checking", "savings", "brokerage", "credit", "loan")
AUDIT_ACTIONS = ("login", "export", "review", "approve")


def _date(offset: int) -> str:
    return (datetime.date(2000, 1, 1) + datetime.timedelta(days=offset)).isoformat()


class _Distinct:
    """Draws integers never drawn before for the same kind: ids, and the salaries, balances,
    amounts and dates that make every "highest" or "next" hop have exactly one answer."""

    def __init__(self, rng: TaskRandom) -> None:
        self.rng = rng
        self.taken: dict[str, set[int]] = {}

    def __call__(self, kind: str, low: int, high: int) -> int:
        taken = self.taken.setdefault(kind, set())
        while (value := self.rng.randint(low, high)) in taken:
            pass
        taken.add(value)
        return value


class LedgerEnv(SandboxEnv):
    """Walk H dependent hops through an SQLite ledger with `query(sql)`; submit the number."""

    description = "Answer H dependent SQL lookups in an SQLite ledger in the sandbox, submit the final salary or balance (scalar)."
    outcome_kind = "scalar"

    def _generate(self, seed: int) -> None:
        rng = TaskRandom(seed, "Ledger", self.difficulty)
        hard = self.difficulty == "hard"
        n = 30 + 4 * self.horizon  # people; the distractors grow with the horizon
        draw = _Distinct(rng)
        words = [w.capitalize() for w in rng.words(n // 3 + n // 4 + 32)]
        cities, givens = words[: 3 + n // 25], words[3 + n // 25 : 16 + n // 4]
        families = words[16 + n // 4 :]
        names: dict[str, None] = {}
        while len(names) < n:
            names.setdefault(f"{rng.choice(givens)} {rng.choice(families)}", None)

        def new_id() -> int:  # one pool for every table: no id names two things
            return draw("id", 1000, 99_999 + 100 * n)

        people = [new_id() for _ in range(n)]
        # A layered org chart, teams of 2-7: everyone's manager comes earlier in `people` (no
        # cycles), and no one has so many reports that wrong walks meet again at a manager.
        managers: list[int | None] = [None]
        for boss in people:
            if len(managers) >= n:
                break
            managers += [boss] * rng.randint(2, 7)
        tables: dict[str, list[list[Any]]] = {name: [] for name in SCHEMA}
        for person, name, manager in zip(people, names, managers, strict=False):
            salary = draw("salary", 28_000, 230_000 + 100 * n)
            decoys = [rng.choice(people), rng.randint(0, 40) * 500] if hard else []
            tables["people"].append([person, name, rng.choice(cities), manager, salary, *decoys])
            for _ in range(rng.randint(1, 3)):
                balance = draw("balance", 0, 500_000 + 500 * n)
                opened = _date(draw("opened", 0, 9000 + 10 * n))
                decoys = [rng.choice((0, 500, 1000, 2500, 10_000))] if hard else []
                kind = rng.choice(ACCOUNT_KINDS)
                tables["accounts"].append([new_id(), person, kind, balance, opened, *decoys])
        accounts = [row[0] for row in tables["accounts"]]

        def other(account: int) -> int:
            while (chosen := rng.choice(accounts)) == account:
                pass
            return chosen

        # Every account sends and receives at least once, so account hops never dead-end.
        pairs = [(a, other(a)) for a in accounts for _ in range(rng.randint(1, 4))]
        received = {b for _, b in pairs}
        pairs += [(other(a), a) for a in accounts if a not in received]
        for sender, receiver in pairs:
            amount, day = draw("amount", 10, 40_000 + 200 * n), _date(rng.randint(7000, 9000))
            decoys = [rng.randint(0, 45)] if hard else []
            tables["transfers"].append([new_id(), sender, receiver, amount, day, *decoys])
        for rows in tables.values():
            rng.shuffle(rows)  # row order must not reveal the org chart or the walk
        self.schema = {t: SCHEMA[t] + (DECOY_COLUMNS[t] if hard else "") for t in SCHEMA}
        if hard:
            self.schema |= DECOY_TABLES
            tables["branches"] = [
                [new_id(), city, rng.choice(people), _date(rng.randint(0, 9000))] for city in cities
            ]
            tables["audit_log"] = []
            for _ in people:
                action, day = rng.choice(AUDIT_ACTIONS), _date(rng.randint(7000, 9000))
                tables["audit_log"].append([new_id(), rng.choice(people), action, day])
        self.tables = tables
        self.values: dict[int, int] = {row[0]: row[4] for row in tables["people"]}
        self.values |= {row[0]: row[3] for row in tables["accounts"]}
        self.pools = {"person": people, "account": accounts}
        self.db_bytes = self._build(rng)
        self.start_name = next(row[1] for row in tables["people"] if row[0] == self.walk[0])

    def _build(self, rng: TaskRandom) -> bytes:
        """Write the database, choose the walk by running the oracle's own SQL on it (so the
        walk is what the queries find), and return the file's bytes."""
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, DB_NAME)
            db = sqlite3.connect(path)
            for table, rows in self.tables.items():
                db.execute(f"CREATE TABLE {table} ({self.schema[table]})")
                marks = ", ".join("?" * len(rows[0]))
                db.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
            db.commit()
            self._choose_walk(rng, db)
            db.close()
            with open(path, "rb") as file:
                return file.read()

    def _choose_walk(self, rng: TaskRandom, db: sqlite3.Connection) -> None:
        """H hops that never revisit an entity (a hop back would be trivial), by a depth-first
        search in random order: a random walk alone gets stuck, because most hops are
        functions (everyone has one manager) whose chains soon run into each other. Two
        manager hops in a row are not allowed: they climb to where wrong walks meet again."""
        people, kinds = set(self.pools["person"]), HOP_KINDS[self.difficulty]

        def hops_from(entity: int, previous: str = "") -> list[tuple[str, int]]:
            here = "person" if entity in people else "account"
            options = []
            for kind in (k for k in kinds if HOPS[k].source == here):
                found = db.execute(HOPS[kind].sql.format(id=entity)).fetchone()
                if found is not None:
                    options.append((kind, int(found[0])))
            rng.shuffle(options)
            options.sort(key=lambda option: option[0] != previous)  # a new kind is tried first
            return options

        for _ in range(100):
            walk: list[int] = [rng.choice(self.pools["person"])]
            hops: list[str] = []
            untried = [hops_from(walk[0])]  # per entity on the walk, the hops not yet tried
            for _ in range(50 * self.horizon):  # a search that gets lost starts elsewhere
                if len(hops) == self.horizon:
                    self.walk, self.hops = walk, hops
                    return
                if not untried:
                    break
                if not untried[-1]:
                    untried.pop()
                    walk.pop()
                    hops[-1:] = []
                    continue
                kind, entity = untried[-1].pop()
                if entity not in walk and not (kind == "manager" == (hops or [""])[-1]):
                    walk.append(entity)
                    hops.append(kind)
                    untried.append(hops_from(entity, kind))
        raise RuntimeError(f"no walk of {self.horizon} hops found; this is a bug in LedgerEnv")

    def _files(self) -> dict[str, str | bytes]:
        return {DB_NAME: self.db_bytes}

    def _prompt(self) -> str:
        steps = "\n".join(f"{i}. Go to {self._say(HOPS[k])}." for i, k in enumerate(self.hops, 1))
        tables = (
            f"{table}({', '.join(c.split()[0] for c in columns.split(', '))})"
            for table, columns in self.schema.items()
        )
        schema = {
            "easy": f"has the tables {', '.join(tables)}",
            "medium": "holds a bank's people, accounts and transfers",
            "hard": "holds a bank's records (read its schema first)",
        }[self.difficulty]
        final, column = VALUE[HOPS[self.hops[-1]].target]
        return (
            f"The SQLite database {self._db_path()} {schema}. Start from the person named "
            f"{self.start_name}. Follow these {self.horizon} steps in order; each starts from the "
            f"person or account the step before it found:\n{steps}\n"
            f"Then submit {final}{f' ({column})' if self.difficulty == 'easy' else ''} with "
            "submit(answer). query(sql) runs read-only SQL on the database; ids are random "
            "numbers, so look everything up."
        )

    def _say(self, hop: Hop) -> str:
        if self.difficulty == "easy":
            return f"{hop.phrase} {hop.hint}"
        return hop.phrase if self.difficulty == "medium" else hop.oblique

    def _db_path(self) -> str:
        return posixpath.join(str(self.sandbox_options.get("workdir", "/work")), DB_NAME)

    def _tools(self) -> list[Tool]:
        query = Tool(
            "query",
            f"Run one read-only SQL statement on {self._db_path()}; prints a header line and "
            f"pipe-separated rows (at most {ROW_LIMIT}).",
            params({"sql": ("string", "One SQLite statement, e.g. SELECT * FROM people LIMIT 5.")}),
            self._query,
        )
        return [*self.shell_tools(), query]

    def _query(self, sql: str) -> str:
        encoded = base64.encodebytes(sql.encode("utf-8", "surrogatepass")).decode()
        command = (
            f"python3 -I -c {shlex.quote(QUERY_SCRIPT)} {shlex.quote(self._db_path())} {ROW_LIMIT} "
            f"<<'HM_SQL'\n{encoded}HM_SQL\n"
        )
        result = self._box().exec(command, timeout=QUERY_TIMEOUT_S)
        if result.timed_out:
            raise ToolError(
                f"the query ran for over {QUERY_TIMEOUT_S:g} s and was stopped; narrow it."
            )
        if result.exit_code != 0:
            raise ToolError(
                result.stderr.strip() or f"the query failed (exit code {result.exit_code})."
            )
        return result.stdout

    def _submit_schema(self) -> dict[str, Any]:
        schema = params({"answer": ("number", "The final salary or balance.")})
        schema["properties"]["answer"]["type"] = ["number", "string"]
        return schema

    def _min_actions(self) -> int:
        return self.horizon + 1

    def _judge(self, answer: Any) -> Outcome:
        value = parse_number(answer)
        target = float(self.values[self.walk[-1]])
        return Outcome(
            kind="scalar", prediction=value, target=target, answer=answer, success=value == target
        )

    def _missing_outcome(self) -> Outcome:
        return Outcome(kind="scalar", prediction=None, target=float(self.values[self.walk[-1]]))

    def _task_spec(self) -> Any:
        return {"schema": self.schema, "tables": self.tables, "hops": self.hops, "walk": self.walk}

    def oracle(self) -> LedgerOracle:
        return LedgerOracle(self.walk[0], [HOPS[k] for k in self.hops], self.values, self.pools)


class LedgerOracle:
    """One query per hop, following its first row, then submits the number the last query
    showed. A mistake follows a runner-up row (the second-richest account, the next transfer)
    or, where there is none, another entity of the right type, and walks on from there."""

    def __init__(
        self, start: int, hops: list[Hop], values: dict[int, int], pools: dict[str, list[int]]
    ) -> None:
        self.current, self.value = start, values[start]
        self.hops, self.values, self.pools = hops, values, pools
        self.step = 0
        self.mistake: float | None = None

    def act(self, observation: str, *, mistake: float | None = None) -> str:
        if self.step > 0:
            self._follow(self.hops[self.step - 1], _rows(observation))
        if self.step == len(self.hops):
            return tool_call("submit", answer=self.value)
        self.mistake = mistake
        self.step += 1
        return tool_call("query", sql=self.hops[self.step - 1].sql.format(id=self.current))

    def _follow(self, hop: Hop, rows: list[tuple[int, int]]) -> None:
        u = self.mistake
        if u is None:
            # No row is a dead end, reachable only after a mistake and only on a person-to-
            # person hop (everyone owns an account, every account sends and receives): stay.
            if rows:
                self.current, self.value = rows[0]
            return
        best = rows[0][0] if rows else None
        runners_up = [row for row in rows if row[0] != best]
        if runners_up and u < 0.5:
            self.current, self.value = runners_up[int(u * 2 * len(runners_up))]
        else:
            pool = [i for i in self.pools[hop.target] if i != best]
            self.current = pool[int(u * len(pool)) % len(pool)]
            self.value = self.values[self.current]


def _rows(observation: str) -> list[tuple[int, int]]:
    """(id, value) of each row the query printed: the first and last columns."""
    cells = [line.split("|") for line in observation.splitlines()[1:]]
    return [(int(c[0]), int(c[-1])) for c in cells if len(c) > 1 and c[0].isdigit()]
