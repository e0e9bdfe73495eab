-- wrk script: replay one signed GetSecretValue request (headers come from -H).
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
