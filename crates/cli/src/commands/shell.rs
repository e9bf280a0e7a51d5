//! `diurnal completions SHELL` and `diurnal man`: what a packager installs beside the binary,
//! generated from the same clap definition that parses the arguments, so they cannot drift.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap_complete::Shell;

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to write a completion script for (to stdout).
    shell: Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write one page per command (diurnal.1, diurnal-simulate.1, ...) into this folder instead
    /// of printing diurnal(1).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Writes the completion script for `args.shell` to stdout. `cli` is the whole command.
pub fn completions(args: &CompletionsArgs, mut cli: clap::Command) -> ExitCode {
    clap_complete::generate(args.shell, &mut cli, "diurnal", &mut std::io::stdout());
    ExitCode::SUCCESS
}

/// Prints diurnal(1), or writes every command's page into `args.dir`.
///
/// # Errors
/// When stdout or a page cannot be written.
pub fn man(args: &ManArgs, cli: clap::Command) -> anyhow::Result<ExitCode> {
    let Some(dir) = &args.dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(cli).render(&mut page).context("rendering diurnal(1)")?;
        std::io::stdout().write_all(&page).context("writing diurnal(1) to stdout")?;
        return Ok(ExitCode::SUCCESS);
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    clap_mangen::generate_to(cli, dir)
        .with_context(|| format!("writing man pages into {}", dir.display()))?;
    Ok(ExitCode::SUCCESS)
}
