"""Times LookupEvents against GetSecretValue on a server whose trail is long
(bench/trail.sh fills it). Prints a Markdown table."""
import argparse
import statistics
import time

import boto3


def p50(f, tries):
    times = []
    for _ in range(tries):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def anon_mb(pid):
    with open(f"/proc/{pid}/status") as s:
        for line in s:
            if line.startswith("RssAnon"):
                return int(line.split()[1]) / 1024
    return 0.0


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--pid", type=int, required=True)
    args = a.parse_args()
    sm = boto3.client("secretsmanager")
    ct = boto3.client("cloudtrail")
    ref = p50(lambda: sm.get_secret_value(SecretId="bench/trail"), 50)
    rows = [("GetSecretValue (reference)", ref, 50, None)]
    cases = [
        ("LookupEvents, no filter, newest page of 50", {}),
        ("LookupEvents, EventName=GetSecretValue (every record)",
         {"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "GetSecretValue"}]}),
        ("LookupEvents, EventName=CreateSecret (one record, the oldest)",
         {"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "CreateSecret"}]}),
        ("LookupEvents, last hour by StartTime", {"StartTime": time.time() - 3600}),
    ]
    peak = anon_mb(args.pid)
    for label, req in cases:
        got = []
        ms = p50(lambda: got.append(len(ct.lookup_events(MaxResults=50, **req)["Events"])), 5)
        peak = max(peak, anon_mb(args.pid))
        rows.append((label, ms, 5, got[-1]))
    print("| what | events on the page | tries | p50 | × GetSecretValue |")
    print("|---|---|---|---|---|")
    for label, ms, tries, n in rows:
        print(f"| {label} | {'' if n is None else n} | {tries} | {ms:.2f} ms | {ms / ref:.1f} |")
    print()
    print(f"Anonymous memory of the server after the lookups: {peak:.1f} MB (highest seen between lookups).")


main()
