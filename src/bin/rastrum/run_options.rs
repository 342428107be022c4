//! The flags of `rastrum run`, made from the library's table of run options
//! (`rastrum::options::OPTIONS`): each option is declared once, and its text reaches
//! `RunOptions::set` as it would from the C API or Python.

use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};
use rastrum::options::{Arity, OPTIONS};

/// The run options given on the command line, as (key, text) in the table's order; repeated
/// options keep their order.
pub struct RunOptionArgs(pub Vec<(&'static str, String)>);

/// `set` is also `rastrum info`'s flag and comes with the model's arguments.
fn from_table(key: &str) -> bool {
    key != "set"
}

impl FromArgMatches for RunOptionArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut given = Vec::new();
        for spec in OPTIONS.iter().filter(|s| from_table(s.key)) {
            match spec.arity {
                Arity::Flag if m.get_flag(spec.key) => given.push((spec.key, "true".to_string())),
                Arity::Flag => {}
                Arity::Value | Arity::Repeated => {
                    for v in m.get_many::<String>(spec.key).into_iter().flatten() {
                        given.push((spec.key, v.clone()));
                    }
                }
            }
        }
        Ok(RunOptionArgs(given))
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Args for RunOptionArgs {
    fn augment_args(cmd: Command) -> Command {
        OPTIONS.iter().filter(|s| from_table(s.key)).fold(cmd, |cmd, spec| {
            let arg = Arg::new(spec.key).long(spec.key).help(spec.help);
            let arg = match spec.arity {
                Arity::Flag => arg.action(ArgAction::SetTrue),
                Arity::Value => arg.value_name(spec.value_name).allow_negative_numbers(true).action(ArgAction::Set),
                Arity::Repeated => arg.value_name(spec.value_name).action(ArgAction::Append),
            };
            // One output is used: by name or by index, not both.
            let arg = if spec.key == "output-name" { arg.conflicts_with("output-index") } else { arg };
            cmd.arg(arg)
        })
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}
