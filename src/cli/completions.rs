//! `gatehouse completions SHELL`: the completion script clap_complete
//! generates from the same command definitions the binary parses with.

use clap::CommandFactory;
use clap_complete::Shell;

pub const HELP: &str = "Reads no config file. Install, for example:
  bash: gatehouse completions bash > ~/.local/share/bash-completion/completions/gatehouse
  zsh:  gatehouse completions zsh > ~/.zfunc/_gatehouse   (with fpath+=~/.zfunc before compinit)
  fish: gatehouse completions fish > ~/.config/fish/completions/gatehouse.fish";

#[derive(clap::Args)]
pub struct Args {
    /// The shell to complete for.
    shell: Shell,
}

pub fn run<C: CommandFactory>(a: Args) -> Result<(), String> {
    let mut cmd = C::command();
    let name = cmd.get_name().to_string();
    clap_complete::generate(a.shell, &mut cmd, name, &mut std::io::stdout());
    Ok(())
}
