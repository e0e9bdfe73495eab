#!/usr/bin/env python3
"""A rotation function written as for AWS Lambda (the four steps of AWS's template for
a plain secret), run by Coffer as an executable: the event arrives as JSON on stdin,
credentials of the execution role and AWS_ENDPOINT_URL in the environment.

lambda_server.py serves the same handler behind the Lambda Invoke API.

For the tests it appends "STEP TOKEN KEY-PREFIX" to $ROTATOR_LOG, fails a step when
the file "$ROTATOR_FAIL.STEP" exists (once), and kills its parent, the server, in
finishSecret when "$ROTATOR_CRASH" exists (once)."""

import json
import os
import signal
import sys

import boto3
from botocore.exceptions import ClientError


def once(path):
    if path and os.path.exists(path):
        os.remove(path)
        return True
    return False


def handle(event):
    step, arn, token = event["Step"], event["SecretId"], event["ClientRequestToken"]
    with open(os.environ["ROTATOR_LOG"], "a") as log:
        log.write(f"{step} {token} {os.environ['AWS_ACCESS_KEY_ID'][:4]}\n")
    with open(os.environ["ROTATOR_LOG"] + ".env", "w") as env:
        env.write("\n".join(sorted(os.environ)))
    if once(os.environ.get("ROTATOR_FAIL", "") + "." + step):
        sys.exit(3)
    sm = boto3.client("secretsmanager")
    if step == "createSecret":
        try:
            sm.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
            return
        except ClientError as e:
            if e.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
        current = sm.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")["SecretString"]
        sm.put_secret_value(SecretId=arn, ClientRequestToken=token,
                            SecretString=current + "+", VersionStages=["AWSPENDING"])
    elif step == "testSecret":
        sm.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
    elif step == "finishSecret":
        if once(os.environ.get("ROTATOR_CRASH")):
            os.kill(os.getppid(), signal.SIGKILL)
            sys.exit(9)
        stages = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
        current = next(v for v, s in stages.items() if "AWSCURRENT" in s)
        if current != token:
            sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT",
                                           MoveToVersionId=token, RemoveFromVersionId=current)


if __name__ == "__main__":
    handle(json.load(sys.stdin))
