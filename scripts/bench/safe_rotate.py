#!/usr/bin/env python3
"""The safe sequential baseline: how a careful team rotates IAM access keys without a tool. For each
IAM user, one after another: ListAccessKeys, CreateAccessKey, then poll GetCallerIdentity signed with
the new key until it works (IAM takes seconds to propagate a new key; retiring the old one before
would break whoever uses it), UpdateAccessKey (old key Inactive), DeleteAccessKey (old key). boto3's
standard retry mode absorbs throttling. New secrets stay in memory (a real script would store them).

Usage: safe_rotate.py --endpoint URL [--path-prefix /bench/] [--limit N] [--poll 1.0]
Prints one JSON line: {"users": N, "seconds": S, "per_user": [s, ...], "polls": N}.
"""
import argparse
import json
import time

import boto3
import botocore.config
import botocore.exceptions


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--path-prefix", default="/")
    ap.add_argument("--limit", type=int, default=0, help="rotate only the first N users (0: all)")
    ap.add_argument("--poll", type=float, default=1.0, help="seconds between polls of the new key")
    args = ap.parse_args()
    cfg = botocore.config.Config(retries={"mode": "standard"})
    iam = boto3.client("iam", endpoint_url=args.endpoint, region_name="us-east-1", config=cfg)
    users = []
    for page in iam.get_paginator("list_users").paginate(PathPrefix=args.path_prefix):
        users.extend(u["UserName"] for u in page["Users"])
    if args.limit:
        users = users[: args.limit]
    started = time.monotonic()
    per_user, polls = [], 0
    for user in users:
        t = time.monotonic()
        old = [k["AccessKeyId"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]]
        new = iam.create_access_key(UserName=user)["AccessKey"]
        sts = boto3.client("sts", endpoint_url=args.endpoint, region_name="us-east-1", config=cfg,
                           aws_access_key_id=new["AccessKeyId"], aws_secret_access_key=new["SecretAccessKey"])
        while True:
            polls += 1
            try:
                sts.get_caller_identity()
                break
            except botocore.exceptions.ClientError as e:
                if e.response["Error"]["Code"] not in ("InvalidClientTokenId", "AccessDenied", "SignatureDoesNotMatch"):
                    raise
                time.sleep(args.poll)
        for key in old:
            iam.update_access_key(UserName=user, AccessKeyId=key, Status="Inactive")
            iam.delete_access_key(UserName=user, AccessKeyId=key)
        per_user.append(time.monotonic() - t)
    print(json.dumps({"users": len(users), "seconds": time.monotonic() - started, "per_user": per_user,
                      "polls": polls}))


if __name__ == "__main__":
    main()
