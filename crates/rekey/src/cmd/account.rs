//! `rekey account …`: add, list, show, reveal and remove managed IAM user credentials.

use crate::{
    cli::{AccountAddArgs, AccountCmd, AccountSetArgs, Format, Global},
    context, output,
    views::AccountView,
};
use rekey_domain::{duration::parse_duration_ms, CredentialKind, PreviousKeyPolicy, RotationSettings, Target};
use rekey_engine::{AccountChanges, AccountRef, Error, InitialKey, NewAccount, Result};
use rekey_store::AccountFilter;
use std::io::Write;

pub async fn run(global: &Global, format: Format, cmd: AccountCmd) -> Result<()> {
    match cmd {
        AccountCmd::Add(args) => {
            let new = parse_add(args)?;
            let adopted_password = new.kind == CredentialKind::Password && new.password.is_some();
            let engine = context::engine_for_write(global).await?;
            let a = engine.add_account(new).await?;
            if adopted_password {
                eprintln!(
                    "note: IAM cannot check a console password without a sign-in, so the adopted password is stored \
                     as given and shown as unverified until its first rotation replaces it."
                );
            }
            output::one(format, &AccountView::from(&a));
        }
        AccountCmd::List { folder, provider } => {
            let filter = AccountFilter {
                folder: folder.map(|f| f.parse()).transpose()?,
                provider: provider.map(|p| p.parse()).transpose()?,
            };
            let engine = context::engine(global).await?;
            engine.check_filter(&filter).await?;
            let mut list = output::ListBuilder::new(format);
            engine
                .each_account(&filter, &mut |a| {
                    list.push(AccountView::from(a));
                    Ok(())
                })
                .await?;
            let text = list.finish().map_err(|e| Error::Internal(format!("rendering the account list: {e}")))?;
            output::emit_bytes(&text);
        }
        AccountCmd::Set(args) => {
            let only = KindOnly::of(&args);
            let (r, changes, edit) = parse_set(args)?;
            let engine = context::engine_for_write(global).await?;
            only.check(&engine.account(&r).await?)?;
            let a = engine.set_account(&r, changes, edit).await?;
            output::one(format, &AccountView::from(&a));
        }
        AccountCmd::Due { account } => {
            let r: AccountRef = account.parse()?;
            let a = context::engine_for_write(global).await?.mark_due(&r).await?;
            eprintln!("Account {} is due now: the next run-due or scheduler tick rotates it.", a.id);
            output::one(format, &AccountView::from(&a));
        }
        AccountCmd::Show { account } => {
            let r: AccountRef = account.parse()?;
            let engine = context::engine(global).await?;
            output::one(format, &AccountView::from(&engine.account(&r).await?));
        }
        AccountCmd::Reveal { account, force } => {
            let r: AccountRef = account.parse()?;
            let engine = context::engine(global).await?;
            let (a, secret) = engine.reveal_with(&r, force).await?;
            reveal_out(format, &a, secret.expose(), a.current_key_id.as_deref());
        }
        AccountCmd::Remove { account, delete_managed_key } => {
            let r: AccountRef = account.parse()?;
            let removed = context::engine_for_write(global).await?.remove_account(&r, delete_managed_key).await?;
            match removed.deleted_key {
                Some(k) => eprintln!("Removed account {} and deleted its access key {k} in IAM.", removed.account),
                None => eprintln!("Removed account {} (IAM left untouched).", removed.account),
            }
        }
    }
    Ok(())
}

/// The one place a secret is printed: `reveal`, to stdout only.
fn reveal_out(format: Format, a: &rekey_store::Account, secret: &str, key_id: Option<&str>) {
    let text = match format {
        Format::Json => {
            let v = serde_json::json!({ "id": a.id, "kind": a.kind, "access_key_id": key_id, "secret": secret });
            format!("{v}\n")
        }
        Format::Csv => format!("id,access_key_id,secret\n{},{},{secret}\n", a.id, key_id.unwrap_or("")),
        Format::Table => format!("{secret}\n"),
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    drop(zeroize::Zeroizing::new(text));
}

/// Validates every argument (and reads the secret) before the vault is opened.
fn parse_add(a: AccountAddArgs) -> Result<NewAccount> {
    let kind: CredentialKind = a.kind.parse()?;
    let provider = a.provider.parse()?;
    let user = a.user.parse()?;
    let folder = a.folder.map(|f| f.parse()).transpose()?;
    let access_key_id = a.access_key_id.map(|k| k.parse()).transpose()?;
    if a.secret_stdin && a.create {
        return Err(Error::usage("--secret-stdin and --create exclude each other", "adopt a key or create one"));
    }
    if kind == CredentialKind::Password && (access_key_id.is_some() || a.create) {
        return Err(Error::usage(
            "--access-key-id and --create apply to access-key accounts",
            "drop them, or use --kind access-key",
        ));
    }
    let mut new = NewAccount { provider, user, kind, folder, title: a.title, password: None, key: None };
    match kind {
        CredentialKind::Password if a.secret_stdin => {
            new.password = Some(context::read_secret(true, "password", "")?);
        }
        CredentialKind::Password => {}
        CredentialKind::AccessKey => {
            new.key = match (access_key_id, a.create) {
                (Some(access_key_id), false) => {
                    let secret = context::read_secret(
                        a.secret_stdin,
                        "secret access key",
                        "pass --secret-stdin and pipe it in",
                    )?;
                    Some(InitialKey::Adopt { access_key_id, secret })
                }
                (None, true) => Some(InitialKey::Create { allow_no_free_slot: a.allow_no_free_slot }),
                _ => None,
            };
        }
    }
    Ok(new)
}

type Edit = Box<dyn FnOnce(&mut RotationSettings) + Send>;

/// The `account set` options given that apply to one credential kind only.
struct KindOnly {
    access_key: Vec<&'static str>,
    password: Vec<&'static str>,
}

impl KindOnly {
    fn of(a: &AccountSetArgs) -> Self {
        let r = &a.retirement;
        let given = |opts: &[(&'static str, bool)]| opts.iter().filter(|(_, on)| *on).map(|(n, _)| *n).collect();
        Self {
            access_key: given(&[
                ("--previous-key", a.previous_key.is_some()),
                ("--deactivate-after", a.deactivate_after.is_some()),
                ("--delete-after", a.delete_after.is_some()),
                ("--retire-only-if-unused", a.retire_only_if_unused.is_some()),
                ("--verify-successes", a.verify_successes.is_some()),
                ("--verify-deadline", a.verify_deadline.is_some()),
                ("--verify-backoff", a.verify_backoff.is_some()),
                ("--retirement", r.retirement.is_some()),
                ("--cutover-deadline", r.cutover_deadline.is_some()),
                ("--cutover-past-deadline", r.cutover_past_deadline.is_some()),
            ]),
            password: given(&[
                ("--password-length", a.password_length.is_some()),
                ("--password-symbols", a.password_symbols.is_some()),
                ("--password-use-symbols", a.password_use_symbols.is_some()),
                ("--create-login-profile", a.create_login_profile.is_some()),
            ]),
        }
    }

    /// Refuses options that mean nothing for `account`'s kind (they would be stored and ignored).
    fn check(&self, account: &rekey_store::Account) -> Result<()> {
        let (wrong, kind, right) = match account.kind {
            CredentialKind::Password => (&self.access_key, "a console password", "access-key"),
            CredentialKind::AccessKey => (&self.password, "an access key", "password"),
        };
        if wrong.is_empty() {
            return Ok(());
        }
        Err(Error::usage(
            format!(
                "{}/{}/{} is {kind}; {} {} to {right} accounts only",
                account.provider,
                account.user_name,
                account.kind,
                wrong.join(", "),
                if wrong.len() == 1 { "applies" } else { "apply" }
            ),
            "leave these options out (rekey account set --help lists what each kind takes)",
        ))
    }
}

/// Parses `account set` into an account reference, metadata changes and a settings edit; every
/// value is checked before the vault is opened (the edited settings are validated as a whole
/// by the engine before anything is written).
fn parse_set(a: Box<AccountSetArgs>) -> Result<(AccountRef, AccountChanges, Edit)> {
    let a = *a;
    let r: AccountRef = a.account.parse()?;
    let dur = |v: &Option<String>| v.as_deref().map(parse_duration_ms).transpose();
    let every = dur(&a.every)?;
    let max_age = dur(&a.max_age)?;
    let deactivate_after = dur(&a.deactivate_after)?;
    let delete_after = dur(&a.delete_after)?;
    let verify_deadline = dur(&a.verify_deadline)?;
    let verify_backoff = dur(&a.verify_backoff)?;
    if let Some(c) = &a.cron {
        rekey_domain::schedule::parse_cron(c)?;
    }
    let previous: Option<PreviousKeyPolicy> = a.previous_key.as_deref().map(str::parse).transpose()?;
    let changes = AccountChanges {
        folder: a.folder.map(|f| if f.is_empty() { Ok(None) } else { f.parse().map(Some) }).transpose()?,
        title: a.title.map(|t| (!t.is_empty()).then_some(t)),
    };
    let script = match a.script {
        Some(command) => {
            let timeout_ms = parse_duration_ms(&a.script_timeout)?;
            let abs = std::path::absolute(&command)
                .map_err(|e| Error::usage(format!("{command}: {e}"), "give a valid path"))?;
            Some(Target::Script {
                command: abs.display().to_string(),
                args: a.script_args.clone(),
                timeout_ms,
                format: None,
            })
        }
        None => None,
    };
    let target = match (a.credentials_file, a.profile) {
        (Some(path), Some(profile)) => {
            let abs =
                std::path::absolute(&path).map_err(|e| Error::usage(format!("{path}: {e}"), "give a valid path"))?;
            Some(Target::AwsCredentialsFile { path: abs.display().to_string(), profile })
        }
        _ => None,
    };
    let webhook = match a.webhook {
        Some(url) => {
            let key_file = a
                .webhook_key_file
                .map(|p| std::path::absolute(&p).map_err(|e| Error::usage(format!("{p}: {e}"), "give a valid path")))
                .transpose()?
                .map(|p| p.display().to_string());
            let t = Target::Webhook {
                url,
                key_env: a.webhook_key_env,
                key_file,
                include_secret: a.webhook_include_secret,
                timeout_ms: parse_duration_ms(&a.webhook_timeout)?,
                format: None,
            };
            RotationSettings { targets: vec![t.clone()], ..Default::default() }.validate()?;
            Some(t)
        }
        None => None,
    };
    let stores = [
        a.secrets_manager.clone().map(|secret_id| Target::SecretsManager { secret_id, format: None }),
        a.ssm_parameter.clone().map(|name| Target::Ssm { name, format: None }),
    ];
    let mut added: Vec<Target> = [target, script, webhook].into_iter().chain(stores).flatten().collect();
    added.extend(super::targets::parse(&a.delivery)?);
    super::targets::apply_format(&a.delivery, &mut added)?;
    let retirement: Option<rekey_domain::Retirement> =
        a.retirement.retirement.as_deref().map(str::parse).transpose()?;
    let cutover_deadline = dur(&a.retirement.cutover_deadline)?;
    let past_deadline: Option<rekey_domain::PastDeadline> =
        a.retirement.cutover_past_deadline.as_deref().map(str::parse).transpose()?;
    let edit: Edit = Box::new(move |s: &mut RotationSettings| {
        s.retirement = retirement.unwrap_or(s.retirement);
        if cutover_deadline.is_some() {
            s.cutover_deadline_ms = cutover_deadline;
        }
        s.cutover_past_deadline = past_deadline.unwrap_or(s.cutover_past_deadline);
        if a.no_schedule {
            s.every_ms = None;
            s.cron = None;
        }
        if every.is_some() {
            s.every_ms = every;
        }
        if a.cron.is_some() {
            s.cron = a.cron;
        }
        if max_age.is_some() {
            s.max_age_ms = max_age;
        }
        if let Some(p) = previous {
            s.previous_key = p;
        }
        s.deactivate_after_ms = deactivate_after.unwrap_or(s.deactivate_after_ms);
        s.delete_after_ms = delete_after.unwrap_or(s.delete_after_ms);
        s.retire_only_if_unused = a.retire_only_if_unused.unwrap_or(s.retire_only_if_unused);
        s.password.length = a.password_length.unwrap_or(s.password.length);
        if let Some(sym) = a.password_symbols {
            s.password.symbol_set = sym;
        }
        s.password.symbols = a.password_use_symbols.unwrap_or(s.password.symbols);
        s.create_login_profile = a.create_login_profile.unwrap_or(s.create_login_profile);
        s.verify.successes = a.verify_successes.unwrap_or(s.verify.successes);
        s.verify.deadline_ms = verify_deadline.unwrap_or(s.verify.deadline_ms);
        s.verify.backoff_ms = verify_backoff.unwrap_or(s.verify.backoff_ms);
        if a.clear_targets {
            s.targets.clear();
        }
        for t in added {
            if !s.targets.contains(&t) {
                s.targets.push(t);
            }
        }
    });
    Ok((r, changes, edit))
}
