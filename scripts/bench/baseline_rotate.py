#!/usr/bin/env python3
"""The baseline: how teams rotate IAM access keys without a tool. For every IAM user, one after
another: ListAccessKeys, CreateAccessKey, UpdateAccessKey (the old key Inactive),
DeleteAccessKey (the old key). No journal, no verification of the new key, no retries beyond
boto3's defaults; new secrets are kept in memory only (a real script would print or store
them somewhere).

Usage: baseline_rotate.py --endpoint URL [--path-prefix /bench/]
Prints one JSON line: {"users": N, "calls": N, "seconds": S}.
"""
import argparse
import json
import time

import boto3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--path-prefix", default="/")
    args = ap.parse_args()
    iam = boto3.client("iam", endpoint_url=args.endpoint, region_name="us-east-1")
    started = time.monotonic()
    calls = 0
    users = []
    for page in iam.get_paginator("list_users").paginate(PathPrefix=args.path_prefix):
        calls += 1
        users.extend(u["UserName"] for u in page["Users"])
    new_secrets = {}
    for user in users:
        old = [k["AccessKeyId"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]]
        new = iam.create_access_key(UserName=user)["AccessKey"]
        new_secrets[user] = (new["AccessKeyId"], new["SecretAccessKey"])
        calls += 2
        for key in old:
            iam.update_access_key(UserName=user, AccessKeyId=key, Status="Inactive")
            iam.delete_access_key(UserName=user, AccessKeyId=key)
            calls += 2
    print(json.dumps({"users": len(users), "calls": calls, "seconds": time.monotonic() - started}))


if __name__ == "__main__":
    main()
