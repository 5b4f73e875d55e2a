//! `rekey completions SHELL` and `rekey man`: the shell completion scripts and the manual pages,
//! both generated from the clap definitions themselves, so they never disagree with `--help`.
//! Neither opens the vault.

use crate::{cli::Cli, output};
use clap::CommandFactory;
use clap_complete::Shell;
use rekey_engine::{Error, Result};
use std::path::PathBuf;

/// `rekey completions`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Install, e.g.:\n  \
    bash: rekey completions bash > ~/.local/share/bash-completion/completions/rekey\n  \
    zsh:  rekey completions zsh > \"${fpath[1]}/_rekey\"\n  \
    fish: rekey completions fish > ~/.config/fish/completions/rekey.fish\n  \
    powershell: rekey completions powershell | Out-String | Invoke-Expression")]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: Shell,
}

/// `rekey man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write one page per command into this existing directory (rekey.1, rekey-account.1,
    /// rekey-account-add.1, …) instead of printing rekey.1
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Prints the completion script for `a.shell`.
pub fn completions(a: &CompletionsArgs) -> Result<()> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "rekey", &mut script);
    output::emit_bytes(&script);
    Ok(())
}

/// Prints `rekey.1`, or writes every command's page into `--dir`.
pub fn man(a: &ManArgs) -> Result<()> {
    let cmd = Cli::command();
    let Some(dir) = &a.dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd)
            .render(&mut page)
            .map_err(|e| Error::Internal(format!("rendering the manual page: {e}")))?;
        output::emit_bytes(&page);
        return Ok(());
    };
    if !dir.is_dir() {
        return Err(Error::usage(
            format!("--dir {} is not a directory", dir.display()),
            "create it first (e.g. mkdir -p man/man1), or leave --dir out to print rekey.1",
        ));
    }
    clap_mangen::generate_to(cmd, dir).map_err(|e| {
        Error::usage(
            format!("cannot write the manual pages into {}: {e}", dir.display()),
            "pass a directory you may write",
        )
    })?;
    errln!("Wrote the manual pages into {}.", dir.display());
    Ok(())
}
