"""Instructions per request, counted by callgrind: the gateway's read by id or page of 50
against the benchmark kit's floor on the same database, a steady figure on a noisy machine.

From the project root, after `cargo build --profile profiling --bin cockpit-gateway --example
writes` (and a kit run, which builds the floor in target/bench-kit):

    python3 bench/callgrind.py setup                  # a fresh bench_cg database, 100 endpoints
    python3 bench/callgrind.py gateway byId 1000      # or list50, create, update; prints instructions/request
    python3 bench/callgrind.py gateway create 1000 --keyed   # each write with an Idempotency-Key
    python3 bench/callgrind.py floor byId 1000

Each run starts the server under valgrind, sends 50 requests to warm it, zeroes the counts,
sends N more one after another on one connection, dumps the counts and prints their total
over N; the profile stays in target/callgrind/ for `callgrind_annotate --inclusive=yes`.
"""
import argparse, http.client, json, os, re, subprocess, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("who", choices=["setup", "gateway", "floor"])
ap.add_argument("case", nargs="?", default="byId", choices=["byId", "list50", "create", "update"])
ap.add_argument("n", nargs="?", type=int, default=1000)
ap.add_argument("--gateway", default="target/profiling/cockpit-gateway")
ap.add_argument("--floor", default="target/bench-kit/floor/target/release/floor")
ap.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
ap.add_argument("--keyed", action="store_true", help="the gateway's writes with an Idempotency-Key each")
args = ap.parse_args()
OUT = os.path.abspath("target/callgrind")
os.makedirs(OUT, exist_ok=True)
STATE = os.path.join(OUT, "state.json")
DB = f"{args.pg}/bench_cg"
ENV = dict(os.environ, DATABASE_URL=DB, COCKPIT_LISTEN="127.0.0.1:7801", RUST_LOG="warn",
           COCKPIT_SECRET_KEY="MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
           COCKPIT_RATE_LIMIT_BUCKET="1000000000", COCKPIT_RATE_LIMIT_RESTORE="1000000000")
FIELDS = "id name type url status providerConfig { __typename ... on VapiConfig { assistantId } } createdAt updatedAt"


def sh(*cmd):
    return subprocess.run(cmd, env=ENV, capture_output=True, text=True, check=True).stdout


def wait(port):
    for _ in range(600):
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
            return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"nothing listens on {port}")


def send(conn, path, body, auth, n=0):
    if callable(body):  # a write: its own name (and key) each time
        body, headers = body(n)
    else:
        headers = {}
    if body is None:  # the floor's GET: its handlers read no body
        conn.request("GET", path)
    else:
        conn.request("POST", path, body=json.dumps(body),
                     headers={"content-type": "application/json", "authorization": auth, **headers})
    res = conn.getresponse()
    data = res.read()
    if res.status != 200:
        sys.exit(f"{res.status}: {data[:300]!r}")
    return data


if args.who == "setup":
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", "drop database if exists bench_cg",
                    "-qc", "create database bench_cg"], check=True)
    sh(args.gateway, "migrate")
    org = re.search(r"[0-9a-f-]{36}", sh(args.gateway, "org", "create", "--name", "Bench")).group(0)
    key = re.search(r"kros_test_\w+", sh(args.gateway, "key", "create", "--org", org, "--mode", "test",
                                         "--name", "bench")).group(0)
    server = subprocess.Popen([args.gateway, "serve"], env=ENV)
    wait(7801)
    conn, ids = http.client.HTTPConnection("127.0.0.1", 7801), []
    for i in range(100):
        query = "mutation($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id } } }"
        made = json.loads(send(conn, "/graphql", {"query": query, "variables": {"input": {
            "name": f"endpoint {i}", "type": "VAPI", "providerConfig": {"vapi": {"assistantId": f"asst-{i}"}}}}},
            "Bearer " + key))
        ids.append(made["data"]["createEndpoint"]["endpoint"]["id"])
    server.terminate()
    server.wait()
    json.dump({"org": org, "key": key, "ids": ids}, open(STATE, "w"))
    sys.exit()

state = json.load(open(STATE))
if args.who == "gateway":
    cmd, port, path, auth = [args.gateway, "serve"], 7801, "/graphql", "Bearer " + state["key"]
    body = ({"query": "query($id: UUID!) { endpoint(id: $id) { %s } }" % FIELDS, "variables": {"id": state["ids"][0]}}
            if args.case == "byId" else
            {"query": "{ endpoints(first: 50, orderBy: {field: CREATED_AT, direction: ASC}) { nodes { %s } } }" % FIELDS})
else:
    cmd, port, auth, body = [args.floor, DB, "7802"], 7802, "", None
    path = f"/one/{state['org']}/{state['ids'][0]}" if args.case == "byId" else f"/list/{state['org']}"
# The writes as the kit sends them: a webhook created, or one of the endpoints renamed in turn.
RUN = f"{os.getpid()}"
if args.case == "create":
    def body(n):
        variables = {"name": f"cg {RUN} {n}", "url": "https://example.com/hook"}
        return write(variables, "mutation($input: CreateEndpointInput!) { createEndpoint(input: $input) "
                     "{ endpoint { id name url } userErrors { code } } }", {"input": dict(variables, type="WEBHOOK")}, n)
    path = "/graphql" if args.who == "gateway" else f"/create/{state['org']}"
elif args.case == "update":
    def body(n):
        variables = {"id": state["ids"][n % len(state["ids"])], "name": f"cg {RUN} {n}"}
        return write(variables, "mutation($input: UpdateEndpointInput!) { updateEndpoint(input: $input) "
                     "{ endpoint { id name url } userErrors { code } } }", {"input": variables}, n)
    path = "/graphql" if args.who == "gateway" else f"/update/{state['org']}"


def write(variables, query, gql_variables, n):
    if args.who == "floor":
        return {"query": "{ x }", "variables": variables}, {}
    headers = {"idempotency-key": f"cg-{RUN}-{n}"} if args.keyed else {}
    return {"query": query, "variables": gql_variables}, headers
out = os.path.join(OUT, f"{args.who}-{args.case}{'-keyed' if args.keyed else ''}.out")
for old in os.listdir(OUT):
    if old.startswith(os.path.basename(out)):
        os.remove(os.path.join(OUT, old))
server = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"] + cmd, env=ENV,
                          stderr=open(out + ".log", "w"))
wait(port)
conn = http.client.HTTPConnection("127.0.0.1", port)
for i in range(50):
    send(conn, path, body, auth, -1 - i)
subprocess.run(["callgrind_control", "-z", str(server.pid)], check=True, capture_output=True)
for i in range(args.n):
    send(conn, path, body, auth, i)
subprocess.run(["callgrind_control", "-d", str(server.pid)], check=True, capture_output=True)
time.sleep(1)
server.terminate()
server.wait()
dumps = sorted(f for f in os.listdir(OUT) if f.startswith(os.path.basename(out) + ".") and f[-1].isdigit())
report = subprocess.run(["callgrind_annotate", os.path.join(OUT, dumps[-1])], capture_output=True, text=True).stdout
total = int(re.search(r"([\d,]+) \(100.0%\)\s+PROGRAM TOTALS", report).group(1).replace(",", ""))
print(f"{args.who} {args.case}{' keyed' if args.keyed else ''}: {total // args.n} instructions a request ({os.path.join(OUT, dumps[-1])})")
