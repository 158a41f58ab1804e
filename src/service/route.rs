//! A route: its configuration, the model it serves, the candidate it
//! shadows, the model it served before, and the model swaps (reload,
//! shadow, promote, rollback).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use tokio::sync::mpsc;

use super::engine::{Buffers, Observer};
use super::observe::{Compare, Observed};
use crate::config::{RouteConfig, ServeConfig};
use crate::error::{Error, Result};
use crate::format::{self, LoadedModel};
use crate::window::hold::Resample;
use crate::window::{SubjectPattern, TimeGaps};

/// The models of a route at one instant.
#[derive(Clone)]
pub(super) struct Serving {
    pub live: Arc<LoadedModel>,
    pub shadow: Option<Arc<LoadedModel>>,
    /// The model live before the last change of the live one (a reload,
    /// promote or rollback that put another model in): what a rollback
    /// puts back.
    pub previous: Option<Arc<LoadedModel>>,
    /// Bumped at every swap: a batch computed by the models before it is
    /// kept out of the comparisons of the models after it.
    pub generation: u64,
}

/// What every stage of one route shares.
pub(super) struct Route {
    pub cfg: RouteConfig,
    /// The model file the route loads (and reloads) by default.
    pub path: PathBuf,
    /// The models serving now. Every swap replaces both under one lock, and
    /// a batch takes one snapshot, so each window is computed by exactly one
    /// live model: a swap applies from the next batch on, never mid-batch.
    serving: RwLock<Serving>,
    /// W: fixed for the route's life (stream windows are this long).
    pub window: usize,
    /// Where a stream's window restarts in time, and the step its rate is
    /// judged against: the live model's (its recording's step; the
    /// configured `max_gap` beats it), so a model trained at another rate
    /// or with a time column swapped in is served at its own.
    time_gaps: RwLock<Option<TimeGaps>>,
    /// The clock a sensor's changes are read on: the live model's
    /// `--resample` (the route's `resample` beats it).
    resample: RwLock<Option<Resample>>,
    /// What the live model takes for no reading.
    codes: codes::Codes,
    pub pattern: SubjectPattern,
    /// The truth channel's pattern (keys as the input's).
    pub truth_pattern: Option<SubjectPattern>,
    /// Shadow outputs and comparisons go to the route's observer task.
    observe: mpsc::Sender<Observed>,
    /// Running comparisons (shadow against live, both against truth).
    pub compare: Arc<Compare>,
    /// This route's own counts (`pair`-labelled in `/metrics`).
    pub counters: Arc<crate::stats::RouteCounters>,
    /// Window, batch and output buffers, recycled (see [`Buffers`]).
    pub buffers: Arc<Buffers>,
    /// The configured model, as last loaded from the configuration (at
    /// start, SIGHUP): its channel is the route's.
    configured: RwLock<Arc<LoadedModel>>,
}

impl Route {
    pub fn current(&self) -> Arc<LoadedModel> {
        self.serving().live
    }

    fn configured(&self) -> Arc<LoadedModel> {
        self.configured
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn serving(&self) -> Serving {
        match self.serving.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The models a batch takes: the live one, and the observer when the
    /// route has a shadow or a truth channel (otherwise nothing is copied).
    pub fn for_batch(&self) -> (Arc<LoadedModel>, Option<Observer>) {
        let s = self.serving();
        let observer = (s.shadow.is_some() || self.cfg.truth.is_some()).then(|| Observer {
            shadow: s.shadow.clone(),
            tx: self.observe.clone(),
            compare: self.compare.clone(),
            generation: s.generation,
            watches: self.cfg.deviation.is_some(),
            truth: self.cfg.truth.is_some(),
            backlog: None,
        });
        (s.live, observer)
    }

    /// Changes the models serving with `f`, which says whether it changed
    /// anything (a promote with no shadow does not): only then do the
    /// comparisons start again.
    fn swap(&self, f: impl FnOnce(&mut Serving) -> bool) -> Serving {
        let mut guard = match self.serving.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if f(&mut guard) {
            // The comparisons are of the models now serving.
            guard.generation += 1;
            self.compare.reset(guard.generation);
        }
        // (The same weights may come with another time step recorded.)
        let gaps = TimeGaps::of(self.cfg.max_gap, guard.live.meta.metrics.as_ref());
        *self.time_gaps.write().unwrap_or_else(|p| p.into_inner()) = gaps;
        let clock = Resample::of(
            self.cfg.resample,
            self.cfg.max_gap,
            guard.live.meta.metrics.as_ref(),
        );
        *self.resample.write().unwrap_or_else(|p| p.into_inner()) = clock;
        self.codes.set(&guard.live);
        guard.clone()
    }

    /// The first of `values` that is no reading (see [`codes`]).
    pub fn missing_code(&self, values: &[f32], truth: bool) -> Option<Code> {
        (self.codes).find(values, truth, |values| {
            let serving = self.serving.read().unwrap_or_else(|p| p.into_inner());
            let codes = &serving.live.missing;
            values.iter().position(|v| codes.contains(v))
        })
    }

    /// The live model's time rule (see the field).
    pub fn time_gaps(&self) -> Option<TimeGaps> {
        *self.time_gaps.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The live model's clock for changes (see the field).
    pub fn resample(&self) -> Option<Resample> {
        *self.resample.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Loads and checks a model file for this route, to serve in place of
    /// or beside the live model. A model trained on another input channel
    /// or in other units (recorded by `retrain --data`) than both the live
    /// model and the route's configured one would turn the route's
    /// input into nonsense: refused unless `force`. (Against the live model
    /// alone, one forced mistake would make the right model refused.)
    fn load(&self, path: &Path, force: Force) -> Result<Checked> {
        let new = format::load(path, self.cfg.window)?;
        if new.model.window() != self.window {
            return Err(Error::Request(format!(
                "{}: window {} does not match the route's {} (its streams' windows hold {} \
                 samples, kept across a swap): to serve it, set the route's `model` to it and \
                 restart (every stream's window starts over), or serve it on a route of its own \
                 (in core mode one that reads the same input into another output: both side by \
                 side, each stream's windows whole, subscribers moved when it has proved itself)",
                path.display(),
                new.model.window(),
                self.window,
                self.window
            )));
        }
        let warnings = self.check(&new, &self.current(), force)?;
        Ok(Checked {
            model: Arc::new(new),
            warnings,
        })
    }

    /// What to tell the operator of `new` put in place of or beside `live`
    /// (see [`Self::load`]); an error when it is refused: a model trained
    /// on another input channel or in other units than both `live` and
    /// the route's configured model, unless `force`.
    fn check(&self, new: &LoadedModel, live: &LoadedModel, force: Force) -> Result<Vec<String>> {
        let path = new.path.display();
        let mut warnings = Vec::new();
        let other = (new.other_channel_than(live))
            .filter(|_| new.other_channel_than(&self.configured()).is_some());
        if let Some(why) = other {
            let said = match force {
                Force::No => {
                    return Err(Error::Request(format!(
                        "{path}: {why}: refused; to serve it all the same, `--force` (\"force\": true)"
                    )));
                }
                Force::Yes => "forced",
                Force::Configured => "as configured",
            };
            tracing::warn!(pair = %self.cfg.pair, model = %path, "{why} ({said})");
            warnings.push(format!("{why} ({said})"));
        }
        // Models of built-in pairs record no channels, only their pair: one
        // of another pair is said (swapping one in on purpose is allowed).
        if let Some(why) = new.other_pair_than(live) {
            tracing::warn!(pair = %self.cfg.pair, model = %path, "{why}");
            warnings.push(why);
        }
        if let Some(why) = new.baseline_warning() {
            tracing::warn!(pair = %self.cfg.pair, model = %path, "{why}");
            warnings.push(why);
        }
        for why in self
            .other_step(new)
            .into_iter()
            .chain(self.other_clock(new))
        {
            tracing::warn!(pair = %self.cfg.pair, model = %path, "{why}");
            warnings.push(why);
        }
        Ok(warnings)
    }

    /// A model put in beside or over `live` that is the same model (its
    /// id names its weights, window and scaling): said, with what follows
    /// from it (`then`). (`live` is given: a promote asks under the lock.)
    fn same_as_live(&self, new: &LoadedModel, live: &LoadedModel, then: &str) -> Option<String> {
        (new.id == live.id).then(|| {
            let why = format!(
                "{} is the model route {:?} serves live (id {}): {then}",
                new.path.display(),
                self.cfg.pair,
                live.id
            );
            tracing::warn!(pair = %self.cfg.pair, "{why}");
            why
        })
    }

    /// Loads and checks `path` (default: the route's model file, which the
    /// configuration names, so another channel is only said), then swaps it
    /// in. On any error the old model keeps serving.
    pub fn reload(&self, path: Option<&Path>, force: bool) -> Result<Checked> {
        let force = match (path, force) {
            (None, _) => Force::Configured,
            (Some(_), true) => Force::Yes,
            (Some(_), false) => Force::No,
        };
        let before = self.current();
        if path.is_none() && before.path != self.path {
            // SIGHUP reads the configuration: a model swapped in by request
            // lasts until then, and an operator should not find out by its MSE.
            tracing::warn!(
                pair = %self.cfg.pair, replaced = %before.path.display(), id = %before.id,
                "reloading the configured model file: the model a reload or promote request put \
                 in is replaced (name it in the configuration to keep it)"
            );
        }
        let configured = path.is_none();
        let path = path.unwrap_or(&self.path);
        let checked = self.load(path, force)?;
        let new = checked.model.clone();
        // The same model again (its id is a hash of its weights, window and
        // scaling: a SIGHUP with the configuration unchanged) keeps the
        // comparisons' running means.
        self.swap(|s| {
            let changed = s.live.id != new.id;
            // The file's metadata either way (a time step recorded since).
            let old = std::mem::replace(&mut s.live, new.clone());
            if changed {
                s.previous = Some(old);
            }
            changed
        });
        if configured {
            // The configuration may have moved the route to another channel.
            *self.configured.write().unwrap_or_else(|p| p.into_inner()) = new.clone();
        }
        tracing::info!(pair = %self.cfg.pair, model = %path.display(), id = %new.id, "model reloaded");
        Ok(checked)
    }

    /// Starts shadowing the model at `path` (replacing any candidate), or
    /// stops shadowing with `None`; with what to tell the operator.
    pub fn set_shadow(&self, path: Option<&Path>, force: Force) -> Result<(Serving, Vec<String>)> {
        let checked = path.map(|p| self.load(p, force)).transpose()?;
        let (new, warnings) = match checked {
            Some(mut c) => {
                let m = &c.model;
                tracing::info!(pair = %self.cfg.pair, model = %m.path.display(), id = %m.id, "shadowing");
                let live = self.current();
                let same = self.same_as_live(m, &live, "shadowed, it is compared with itself");
                c.warnings.extend(same);
                (Some(c.model), c.warnings)
            }
            None => {
                tracing::info!(pair = %self.cfg.pair, "shadow stopped");
                (None, Vec::new())
            }
        };
        Ok((
            // The same shadow again keeps the comparisons' running means.
            self.swap(|s| {
                let changed = s.shadow.as_ref().map(|m| &m.id) != new.as_ref().map(|m| &m.id);
                s.shadow = new;
                changed
            }),
            warnings,
        ))
    }

    /// Makes the shadow the live model, checked as a model put in by
    /// request is ([`Self::check`]: a shadow of another channel, which the
    /// configuration or a forced request put beside the live model, is not
    /// made live without `force`); with what to tell the operator. The
    /// batch being formed when this runs takes one of the two, whole: no
    /// window is lost or computed twice.
    /// What to tell the operator who put `model` in by a request: a
    /// SIGHUP or a restart loads the configured file again (said at the
    /// swap, not first at the SIGHUP that undoes it).
    pub fn until_sighup(&self, model: &LoadedModel) -> Option<String> {
        let same = |a: &Path, b: &Path| {
            a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
        };
        (!same(&model.path, &self.path)).then(|| {
            format!(
                "{} serves route {:?} until the next SIGHUP or restart, which load the \
                 configured {} again: to keep it, name it where the service was given that one \
                 (the route's `model` in its configuration file, or `serve --model {}`)",
                model.path.display(),
                self.cfg.pair,
                self.path.display(),
                model.path.display()
            )
        })
    }

    pub fn promote(&self, force: Force) -> Result<(Serving, Vec<String>)> {
        let mut outcome = None;
        let now = self.swap(|s| {
            let Some(candidate) = s.shadow.clone() else {
                return false;
            };
            let checked = self.check(&candidate, &s.live, force).map(|mut w| {
                w.extend(self.same_as_live(&candidate, &s.live, "promoted, nothing changes"));
                w
            });
            let promoted = checked.is_ok();
            if promoted {
                s.shadow = None;
                let old = std::mem::replace(&mut s.live, candidate);
                tracing::info!(pair = %self.cfg.pair, id = %s.live.id, previous = %old.id, "shadow promoted");
                // (The live model promoted over itself leaves the previous.)
                if old.id != s.live.id {
                    s.previous = Some(old);
                }
            }
            outcome = Some(checked);
            promoted
        });
        match outcome {
            Some(checked) => Ok((now, checked?)),
            None => Err(Error::Request(format!(
                "route {:?} has no shadow to promote",
                self.cfg.pair
            ))),
        }
    }
}

impl Route {
    /// Puts the previous live model back (the one a reload, promote or
    /// rollback replaced; checked as a promotion is), the live one becoming
    /// the previous: a second rollback undoes the first. The shadow stays.
    /// As with a promotion, the batch being formed takes one of the two,
    /// whole.
    pub fn rollback(&self, force: Force) -> Result<(Serving, Vec<String>)> {
        let mut outcome = None;
        let now = self.swap(|s| {
            let Some(previous) = s.previous.clone() else {
                return false;
            };
            let checked = self.check(&previous, &s.live, force);
            let done = checked.is_ok();
            if done {
                let old = std::mem::replace(&mut s.live, previous);
                tracing::info!(pair = %self.cfg.pair, id = %s.live.id, previous = %old.id, "rolled back");
                s.previous = Some(old);
            }
            outcome = Some(checked);
            done
        });
        match outcome {
            Some(checked) => Ok((now, checked?)),
            None => Err(Error::Request(format!(
                "route {:?} has no previous model to roll back to: model {} has served it since \
                 the service started (a reload, promote or rollback that changes the live model \
                 keeps the one it replaces)",
                self.cfg.pair, now.live.id
            ))),
        }
    }
}

/// Whether a model of another channel than the route's may serve.
#[derive(Debug, Clone, Copy)]
pub(super) enum Force {
    No,
    /// The request said so.
    Yes,
    /// The configuration names it.
    Configured,
}

/// A model file checked for a route, and what to tell the operator about
/// it (served all the same: no better than a baseline, or forced onto
/// another channel).
pub(super) struct Checked {
    pub model: Arc<LoadedModel>,
    pub warnings: Vec<String>,
}

/// Served all the same (the operator chose it), but said.
fn warn_if_no_better_than_a_baseline(pair: &str, model: &LoadedModel) {
    if let Some(why) = model.baseline_warning() {
        tracing::warn!(pair, model = %model.path.display(), "{why}");
    }
}

/// Loads every route's models and checks the routes. Fails before anything
/// is subscribed, so a bad model file is a clear start-up error. Each route
/// comes with the receiver its observer task reads.
pub(super) fn load_routes(
    config: &ServeConfig,
) -> Result<Vec<(Arc<Route>, mpsc::Receiver<Observed>)>> {
    config.validate()?;
    let pairs: Vec<&str> = config.routes.iter().map(|r| r.pair.as_str()).collect();
    for why in crate::config::routes::shared_truths(&config.routes) {
        tracing::warn!("{why}");
    }
    for line in crate::config::routes::shared_inputs(&config.routes) {
        tracing::info!("{line}");
    }
    config
        .routes
        .iter()
        .map(|r| {
            let path = config.model_path(r);
            // Named by its route, as `config check` says it.
            let model = (config.load_model(r))
                .map_err(|e| Error::Config(format!("route for pair {:?}: {e}", r.pair)))?;
            warn_if_no_better_than_a_baseline(&r.pair, &model);
            if let Some(why) = model.other_route_than(&r.pair, &pairs) {
                tracing::warn!(pair = %r.pair, "{why}");
            }
            let pattern = SubjectPattern::parse(&r.input).map_err(Error::Config)?;
            tracing::info!(
                pair = %r.pair, model = %model.path.display(), id = %model.id,
                input = %r.input, output = %r.output, window = model.model.window(),
                channels = model.channels().as_deref().unwrap_or("-"),
                "route"
            );
            let truth_pattern = r
                .truth
                .as_deref()
                .map(SubjectPattern::parse)
                .transpose()
                .map_err(Error::Config)?;
            let (tx, rx) = mpsc::channel(64);
            let time_gaps = TimeGaps::of(r.max_gap, model.meta.metrics.as_ref());
            if let Some(g) = time_gaps {
                tracing::info!(
                    pair = %r.pair,
                    max_gap_s = g.max_gap_ns as f64 / 1e9,
                    step_s = g.step_ns as f64 / 1e9,
                    "windows restart where a stream's `ts` jumps by more than max_gap; a quiet \
                     stream is kept at least twice as long (idle_timeout)"
                );
            }
            let resample = Resample::of(r.resample, r.max_gap, model.meta.metrics.as_ref());
            if let Some(c) = resample {
                let trained = match Resample::trained_on_clock(model.meta.metrics.as_ref()) {
                    true => "as retrain --resample read the training recording",
                    // (Two loggers' files joined on the output's clock, the
                    // input read so.)
                    false => {
                        "as pipeline join takes an input beside an output logged at another rate"
                    }
                };
                tracing::info!(
                    pair = %r.pair,
                    step_s = c.step_s,
                    max_hold_s = c.max_hold_s,
                    phase_s = c.phase_s,
                    "samples without seq (a sensor's changes) are read on a clock: each value \
                     held until the next and read at every tick, {trained}"
                );
                let idle = std::time::Duration::from_secs_f64(config.idle_timeout_s.max(0.0));
                let idle = TimeGaps::quiet_kept(time_gaps, idle);
                for why in c.warnings(idle, model.meta.metrics.as_ref()) {
                    tracing::warn!(pair = %r.pair, "{why}");
                }
            }
            let model = Arc::new(model);
            let route = Arc::new(Route {
                cfg: r.clone(),
                path,
                window: model.model.window(),
                time_gaps: RwLock::new(time_gaps),
                resample: RwLock::new(resample),
                codes: codes::Codes::of(&model),
                configured: RwLock::new(model.clone()),
                serving: RwLock::new(Serving {
                    live: model,
                    shadow: None,
                    previous: None,
                    generation: 0,
                }),
                pattern,
                truth_pattern,
                observe: tx,
                compare: Arc::default(),
                counters: Arc::default(),
                buffers: Arc::default(),
            });
            // The configuration names it: another channel is said, not
            // refused (a request needs `force` for it).
            if let Some(candidate) = &r.shadow.model {
                route.set_shadow(Some(candidate), Force::Configured)?;
            }
            Ok((route, rx))
        })
        .collect()
}

/// Each route's models and comparisons, for `/metrics` and `$SRV.STATS`.
pub(super) fn infos(routes: &[Arc<Route>]) -> Vec<crate::stats::RouteInfo> {
    routes
        .iter()
        .map(|r| {
            let s = r.serving();
            use std::sync::atomic::Ordering::Relaxed;
            crate::stats::RouteInfo {
                pair: r.cfg.pair.clone(),
                samples_in: r.counters.samples_in.load(Relaxed),
                windows_out: r.counters.windows_out.load(Relaxed),
                windows_shed: r.counters.windows_shed.load(Relaxed),
                timestamps_ignored: r.counters.timestamps_ignored.load(Relaxed),
                input_out_of_range: r.counters.input_out_of_range.load(Relaxed),
                input_off_rate: r.counters.input_off_rate.load(Relaxed),
                truth_refused: r.counters.truth_refused.load(Relaxed),
                model_windows: (r.counters.model_windows.lock())
                    .map_or_else(|p| p.into_inner().clone(), |m| m.clone()),
                input_too_fast: r.counters.input_too_fast.load(Relaxed),
                input_unstamped: r.counters.input_unstamped.load(Relaxed),
                errors: r.counters.read_errors(),
                model: s.live.id.clone(),
                channels: s.live.channels(),
                unit: s.live.output_unit.clone(),
                shadow: s.shadow.map(|m| m.id.clone()),
                previous: s.previous.map(|m| m.id.clone()),
                max_gap_s: r.time_gaps().map(|g| g.max_gap_ns as f64 / 1e9),
                resample_s: r.resample().map(|c| c.step_s),
                compare: r.compare.snapshot(),
                histograms: r.counters.read_histograms(),
            }
        })
        .collect()
}

mod codes;
pub use codes::Code;
mod steps;
