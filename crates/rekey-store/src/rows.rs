//! Decoding rows into records, shared by both backends (instantiated by `sql_store!` inside each
//! backend's query module, where `$row` is that backend's row type).

macro_rules! sql_rows {
    ($row:ident) => {
        fn provider_from_row(r: &$row, b: &$crate::barrier::Barrier) -> Result<Provider> {
            let name: String = r.try_get("name")?;
            let (region, auth): (String, String) = (r.try_get("region")?, r.try_get("auth")?);
            let (endpoint, mfa): (Option<String>, Option<String>) =
                (r.try_get("endpoint_url")?, r.try_get("mfa_serial")?);
            let row = $crate::barrier::provider_row(&name, &region, endpoint.as_deref(), &auth, mfa.as_deref());
            b.verify(&row, r.try_get::<Option<String>, _>("mac")?.as_deref(), || format!("provider {name:?}"))?;
            Ok(Provider {
                name: parse_col(&r.try_get::<String, _>("name")?, "providers.name")?,
                region: parse_col(&r.try_get::<String, _>("region")?, "providers.region")?,
                endpoint_url: r.try_get("endpoint_url")?,
                auth: json_col(&r.try_get::<String, _>("auth")?, "providers.auth")?,
                mfa_serial: r.try_get("mfa_serial")?,
                created_at: from_millis(r.try_get("created_at")?),
                updated_at: from_millis(r.try_get("updated_at")?),
            })
        }

        /// An account, flagged [`Account::tampered`] if it or its current secret version fails
        /// its integrity check.
        pub(super) fn account_from_row(r: &$row, b: &$crate::barrier::Barrier) -> Result<Account> {
            let folder: Option<String> = r.try_get("folder")?;
            let id: String = r.try_get("id")?;
            let row = $crate::barrier::account_row(
                &id,
                &r.try_get::<String, _>("provider")?,
                &r.try_get::<String, _>("user_name")?,
                &r.try_get::<String, _>("user_id")?,
                &r.try_get::<String, _>("arn")?,
                &r.try_get::<String, _>("kind")?,
                folder.as_deref(),
                &r.try_get::<String, _>("settings")?,
            );
            let mut tampered =
                b.verify(&row, r.try_get::<Option<String>, _>("mac")?.as_deref(), || format!("account {id:?}")).err();
            if let Some(version) = r.try_get::<Option<i64>, _>("current_version")? {
                let key_id: Option<String> = r.try_get("current_key_id")?;
                let origin: String = r.try_get::<Option<String>, _>("current_origin")?.unwrap_or_default();
                let row = $crate::barrier::secret_row(&id, version, "current", key_id.as_deref(), &origin);
                let mac: Option<String> = r.try_get("current_mac")?;
                tampered =
                    tampered.or(b.verify(&row, mac.as_deref(), || format!("secret version {version} of {id}")).err());
            }
            Ok(Account {
                tampered: tampered.map(|e| match e {
                    StoreError::Tampered { what, problem } => format!("{what}: {problem}"),
                    other => other.to_string(),
                }),
                id: parse_col(&r.try_get::<String, _>("id")?, "accounts.id")?,
                provider: parse_col(&r.try_get::<String, _>("provider")?, "accounts.provider")?,
                user_name: parse_col(&r.try_get::<String, _>("user_name")?, "accounts.user_name")?,
                user_id: r.try_get("user_id")?,
                arn: parse_col(&r.try_get::<String, _>("arn")?, "accounts.arn")?,
                kind: parse_col(&r.try_get::<String, _>("kind")?, "accounts.kind")?,
                folder: folder.map(|f| parse_col::<rekey_domain::Folder>(&f, "accounts.folder")).transpose()?,
                title: r.try_get("title")?,
                status: parse_col(&r.try_get::<String, _>("status")?, "accounts.status")?,
                settings: json_col(&r.try_get::<String, _>("settings")?, "accounts.settings")?,
                created_at: from_millis(r.try_get("created_at")?),
                updated_at: from_millis(r.try_get("updated_at")?),
                current_version: r.try_get("current_version")?,
                current_key_id: r.try_get("current_key_id")?,
                last_rotated_at: r.try_get::<Option<i64>, _>("last_rotated_at")?.map(from_millis),
                next_due_at: r.try_get::<Option<i64>, _>("next_due_at")?.map(from_millis),
                heartbeat: match r.try_get::<Option<i64>, _>("heartbeat_at")? {
                    Some(at) => Some(Heartbeat {
                        at: from_millis(at),
                        status: parse_col(
                            &r.try_get::<Option<String>, _>("heartbeat_status")?.unwrap_or_default(),
                            "accounts.heartbeat_status",
                        )?,
                        detail: json_col(
                            &r.try_get::<Option<String>, _>("heartbeat_detail")?.unwrap_or_else(|| "null".into()),
                            "accounts.heartbeat_detail",
                        )?,
                    }),
                    None => None,
                },
            })
        }

        pub(super) fn rotation_from_row(r: &$row) -> Result<Rotation> {
            Ok(Rotation {
                id: r.try_get("id")?,
                account_id: parse_col(&r.try_get::<String, _>("account_id")?, "rotations.account_id")?,
                kind: parse_col(&r.try_get::<String, _>("kind")?, "rotations.kind")?,
                phase: parse_col(&r.try_get::<String, _>("phase")?, "rotations.phase")?,
                old_key_id: r.try_get("old_key_id")?,
                new_key_id: r.try_get("new_key_id")?,
                old_version: r.try_get("old_version")?,
                new_version: r.try_get("new_version")?,
                data: json_col(&r.try_get::<String, _>("data")?, "rotations.data")?,
                error: r.try_get("error")?,
                started_at: from_millis(r.try_get("started_at")?),
                updated_at: from_millis(r.try_get("updated_at")?),
                finished_at: r.try_get::<Option<i64>, _>("finished_at")?.map(from_millis),
            })
        }

        fn secret_from_row(r: &$row, b: &$crate::barrier::Barrier) -> Result<SecretVersion> {
            let (record, version): (String, i64) = (r.try_get("record_id")?, r.try_get("version")?);
            let (state, origin): (String, String) = (r.try_get("state")?, r.try_get("origin")?);
            let key_id: Option<String> = r.try_get("key_id")?;
            let row = $crate::barrier::secret_row(&record, version, &state, key_id.as_deref(), &origin);
            let mac: Option<String> = r.try_get("mac")?;
            b.verify(&row, mac.as_deref(), || format!("secret version {version} of {record}"))?;
            Ok(SecretVersion {
                record_id: r.try_get("record_id")?,
                version: r.try_get("version")?,
                state: parse_col(&r.try_get::<String, _>("state")?, "secret_versions.state")?,
                key_id: r.try_get("key_id")?,
                origin: Origin::parse(&r.try_get::<String, _>("origin")?),
                wrapped_key: r.try_get("wrapped_key")?,
                ciphertext: r.try_get("ciphertext")?,
                created_at: from_millis(r.try_get("created_at")?),
            })
        }

        pub(super) fn audit_from_row(r: &$row) -> Result<AuditRecord> {
            Ok(AuditRecord {
                seq: r.try_get("seq")?,
                entry: AuditEntry {
                    at: from_millis(r.try_get("at")?),
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    outcome: parse_col(&r.try_get::<String, _>("outcome")?, "audit_events.outcome")?,
                    detail: json_col(&r.try_get::<String, _>("detail")?, "audit_events.detail")?,
                },
                prev_hash: r.try_get("prev_hash")?,
                hash: r.try_get("hash")?,
            })
        }
    };
}

pub(crate) use sql_rows;
