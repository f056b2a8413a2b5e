//! AI.DAGEXECUTE, AI.DAGEXECUTE_RO and the deprecated AI.DAGRUN, AI.DAGRUN_RO (spec §4.15,
//! §4.16): parse into a plan on the main thread, then run it like any run command.

use std::sync::Arc;

use super::plan_reply::{reply_plan, PlanClient};
use crate::backend::ScriptServices;
use crate::config;
use crate::dag::run::{self, Finished};
use crate::dag::{self, Flavor, Keyspace, Plan, Runnable, Target};
use crate::error::{AiError, AiResult};
use crate::exec::Busy;
use crate::model::Model;
use crate::redis::{Args, Ctx, KeyUse, Level};
use crate::script::Script;
use crate::tensor::Tensor;

pub fn dagexecute(ctx: &Ctx, args: &Args) -> AiResult<()> {
    dag_command(ctx, args, Flavor::Execute)
}

pub fn dagexecute_ro(ctx: &Ctx, args: &Args) -> AiResult<()> {
    dag_command(ctx, args, Flavor::ExecuteRo)
}

pub fn dagrun(ctx: &Ctx, args: &Args) -> AiResult<()> {
    dag_command(ctx, args, Flavor::Run)
}

pub fn dagrun_ro(ctx: &Ctx, args: &Args) -> AiResult<()> {
    dag_command(ctx, args, Flavor::RunRo)
}

fn dag_command(ctx: &Ctx, args: &Args, flavor: Flavor) -> AiResult<()> {
    if ctx.is_keys_position_request() {
        for (pos, written) in dag::key_positions(&args.tail(0)) {
            ctx.key_at(pos, if written { KeyUse::Write } else { KeyUse::Read });
        }
        return Ok(());
    }
    if matches!(flavor, Flavor::Run | Flavor::RunRo) {
        ctx.log(
            Level::Warning,
            &format!(
                "{} is deprecated and will be removed in a future version, use AI.DAGEXECUTE",
                flavor.name()
            ),
        );
    }
    if !ctx.may_block() {
        return Err(AiError::InTransaction);
    }
    let mut keyspace = CommandKeys {
        ctx,
        args,
        read_only: flavor.read_only(),
    };
    let plan = dag::parse(
        flavor,
        &args.tail(0),
        &mut keyspace,
        config::tensor_limits(),
    )?;
    execute(ctx, plan)
}

/// Runs a plan: at once if it has no model op, else on the device queues with the client
/// blocked until it ends.
pub fn execute(ctx: &Ctx, plan: Plan<Model>) -> AiResult<()> {
    if !plan.has_runs() {
        reply_plan(ctx, &plan.outline, Finished::immediate(plan.graph));
        return Ok(());
    }
    // Each model op's plan is outstanding until its reply is written: a later run of the same
    // model must not skip the queue ahead of it (see commands/model.rs, exec's notes).
    let busy = plan
        .graph
        .runs
        .iter()
        .flatten()
        .filter_map(|op| match &op.target {
            Target::Model(m) => Some(Busy::new(&m.pace)),
            Target::Script(_) | Target::Builtin(_) => None,
        })
        .collect();
    let client = PlanClient::block(ctx, plan.outline, busy);
    run::start(plan.graph, Box::new(client));
    Ok(())
}

impl Runnable for Model {
    fn input_count(&self) -> usize {
        self.inputs().len()
    }
    fn output_count(&self) -> usize {
        self.outputs().len()
    }
}

/// The keyspace through the running command's arguments.
struct CommandKeys<'c, 'a> {
    ctx: &'c Ctx,
    args: &'c Args<'a>,
    read_only: bool,
}

impl Keyspace<Model> for CommandKeys<'_, '_> {
    fn tensor(&mut self, word: usize) -> AiResult<Arc<Tensor>> {
        self.ctx
            .open_key(self.args.raw(word), false)
            .get_arc::<Tensor>()?
            .ok_or(AiError::TensorKeyEmpty)
    }

    fn model(&mut self, word: usize) -> AiResult<Arc<Model>> {
        self.ctx
            .open_key(self.args.raw(word), false)
            .get_arc::<Model>()?
            .ok_or(AiError::ModelKeyEmpty)
    }

    fn script(&mut self, word: usize) -> AiResult<Arc<Script>> {
        self.ctx
            .open_key(self.args.raw(word), false)
            .get_arc::<Script>()?
            .ok_or(AiError::ScriptKeyEmpty)
    }

    fn script_env(&mut self, keys: Vec<Vec<u8>>) -> Arc<dyn ScriptServices + Send + Sync> {
        crate::sandbox::env(self.ctx, keys, self.read_only)
    }

    fn writable(&mut self, word: usize) -> AiResult<()> {
        self.ctx
            .open_key(self.args.raw(word), false)
            .check_type::<Tensor>()
    }

    fn writable_hash(&mut self, word: usize) -> AiResult<()> {
        let key = self.ctx.open_key(self.args.raw(word), false);
        if key.is_empty() || key.is_hash() {
            Ok(())
        } else {
            Err(AiError::WrongType)
        }
    }
}
