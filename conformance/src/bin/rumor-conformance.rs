//! `rumor-conformance`: runs the scenario suite on the chosen backends, one scenario at a time,
//! and prints a pass/fail matrix with timings; exits 1 if anything failed, 2 on bad usage.
//! `rumor-conformance sim ...` is the simulator's capacity tool ([`capacity::cli`]).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use rumor_conformance::backend::{Backend, SimBackend, sim_config, sim_seed};
use rumor_conformance::capacity;
use rumor_conformance::interop::{self, Launcher};
use rumor_conformance::lock;
use rumor_conformance::real::RealBackend;
use rumor_conformance::runtimes::async_io::{AsyncStd, Smol};
use rumor_conformance::runtimes::custom::Custom;
use rumor_conformance::runtimes::mio::Mio;
use rumor_conformance::runtimes::tokio::Tokio;
use rumor_conformance::scenarios::{self, Outcome};
use rumor_conformance::sim::LinkModel;

const USAGE: &str = "\
usage: rumor-conformance [--backend LIST] [--scenario LIST] [--go-peer PATH] [--rumor PATH] [--seed N]
       rumor-conformance sim ARGS...

Runs the conformance scenarios one at a time and prints a matrix: a row per scenario, a column
per backend, each cell `ok <time>`, `FAIL` or `-` (does not apply).

  --backend LIST   comma-separated, from sim, tokio, async-std, smol, mio, custom (default: all)
  --scenario LIST  comma-separated scenario names (default: every scenario that applies to each
                   backend: the whole suite on sim; on real sockets all but the 30-minute loss
                   soak, plus the hostile clients)
  --go-peer PATH   also run the Go interop scenarios (column `interop`) against this Go
                   memberlist peer (`bash conformance/interop/build.sh peer` prints its path);
                   interop scenarios named in --scenario restrict them, otherwise all run
  --rumor PATH     the `rumor` binary interop runs (default: `rumor` next to this program,
                   built by `cargo build --release`)
  --seed N         the simulator's seed (default: RUMOR_SIM_SEED, else 7)

`rumor-conformance sim ARGS...` runs the simulator's capacity tool.";

/// Every backend, in the matrix's column order.
const BACKENDS: &[&str] = &["sim", "tokio", "async-std", "smol", "mio", "custom"];

/// The interop column's name.
const INTEROP: &str = "interop";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("sim") {
        return match capacity::cli(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let plan = match Options::parse(&args).and_then(Plan::new) {
        Ok(p) => p,
        Err(e) => {
            let synopsis: Vec<&str> = USAGE.lines().take(2).collect();
            eprintln!("rumor-conformance: {e}\n{}", synopsis.join("\n"));
            return ExitCode::from(2);
        }
    };
    let results = plan.run();
    print!("{}", results.report(&plan));
    if results.failed() > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The command line, checked.
#[derive(Debug)]
struct Options {
    backends: Vec<&'static str>,
    scenarios: Option<Vec<String>>,
    go_peer: Option<PathBuf>,
    rumor: Option<PathBuf>,
    seed: u64,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut o = Options {
            backends: BACKENDS.to_vec(),
            scenarios: None,
            go_peer: None,
            rumor: None,
            seed: sim_seed(),
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
                _ => (arg.as_str(), None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| it.next().cloned())
                    .ok_or_else(|| format!("{flag} needs a value"))
            };
            match flag {
                "--backend" => o.backends = backends(&value()?)?,
                "--scenario" => o.scenarios = Some(list(&value()?)),
                "--go-peer" => o.go_peer = Some(value()?.into()),
                "--rumor" => o.rumor = Some(value()?.into()),
                "--seed" => {
                    let v = value()?;
                    o.seed = v
                        .parse()
                        .map_err(|_| format!("--seed: not a number: {v}"))?;
                }
                _ => return Err(format!("unknown argument {arg:?}")),
            }
        }
        Ok(o)
    }
}

fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn backends(s: &str) -> Result<Vec<&'static str>, String> {
    let mut out = Vec::new();
    for name in list(s) {
        let b = BACKENDS
            .iter()
            .find(|b| **b == name)
            .ok_or_else(|| format!("unknown backend {name:?} (known: {})", BACKENDS.join(",")))?;
        if !out.contains(b) {
            out.push(*b);
        }
    }
    if out.is_empty() {
        return Err("--backend: no backend named".into());
    }
    Ok(out)
}

/// A fresh backend called `name` (one of [`BACKENDS`]).
fn make_backend(name: &str, seed: u64) -> Box<dyn Backend> {
    match name {
        "sim" => Box::new(SimBackend::new(seed, LinkModel::default(), sim_config())),
        "tokio" => Box::new(RealBackend::new(Tokio::new())),
        "async-std" => Box::new(RealBackend::new(AsyncStd)),
        "smol" => Box::new(RealBackend::new(Smol::new())),
        "mio" => Box::new(RealBackend::new(Mio::new())),
        "custom" => Box::new(RealBackend::new(Custom)),
        _ => unreachable!("backend names are checked when parsed"),
    }
}

/// The scenarios a backend runs unless `--scenario` says otherwise.
fn suite(backend: &str) -> &'static [(&'static str, scenarios::Scenario)] {
    if backend == "sim" {
        scenarios::ALL
    } else {
        scenarios::REALTIME
    }
}

/// What one cell of the matrix runs.
#[derive(Clone, Copy)]
enum Run {
    Backend(scenarios::Scenario),
    Interop(interop::Scenario),
}

/// One cell of the matrix to run.
struct Job {
    backend: &'static str,
    scenario: &'static str,
    run: Run,
}

/// Everything to run, in order, and the matrix's shape.
struct Plan {
    jobs: Vec<Job>,
    columns: Vec<&'static str>,
    rows: Vec<&'static str>,
    launcher: Option<Launcher>,
    seed: u64,
}

impl Plan {
    fn new(o: Options) -> Result<Self, String> {
        let wanted = |name: &str| {
            o.scenarios
                .as_ref()
                .is_none_or(|l| l.iter().any(|s| s == name))
        };
        if let Some(l) = &o.scenarios {
            let known = |name: &String| {
                let mut all = scenarios::ALL
                    .iter()
                    .chain(scenarios::REALTIME)
                    .map(|s| s.0);
                all.any(|s| s == name) || interop::SCENARIOS.iter().any(|s| s.0 == name)
            };
            if let Some(bad) = l.iter().find(|n| !known(n)) {
                return Err(format!("unknown scenario {bad:?}"));
            }
        }
        let mut jobs = Vec::new();
        for &backend in &o.backends {
            for &(scenario, f) in suite(backend) {
                if wanted(scenario) {
                    let run = Run::Backend(f);
                    jobs.push(Job {
                        backend,
                        scenario,
                        run,
                    });
                }
            }
        }
        // A backend none of the chosen scenarios applies to gets no column.
        let mut columns: Vec<&str> = o.backends.clone();
        columns.retain(|c| jobs.iter().any(|j| j.backend == *c));
        let launcher = match o.go_peer {
            Some(go) => Some(launcher(go, o.rumor)?),
            None => None,
        };
        if launcher.is_some() {
            columns.push(INTEROP);
            // Interop scenarios named in --scenario restrict them; otherwise all run.
            let named = interop::SCENARIOS.iter().any(|s| wanted(s.0)) && o.scenarios.is_some();
            for &(scenario, f) in interop::SCENARIOS {
                if !named || wanted(scenario) {
                    let run = Run::Interop(f);
                    jobs.push(Job {
                        backend: INTEROP,
                        scenario,
                        run,
                    });
                }
            }
        }
        if jobs.is_empty() {
            return Err("no scenario applies to the backends chosen".into());
        }
        let mut rows: Vec<&str> = Vec::new();
        for j in &jobs {
            if !rows.contains(&j.scenario) {
                rows.push(j.scenario);
            }
        }
        Ok(Plan {
            jobs,
            columns,
            rows,
            launcher,
            seed: o.seed,
        })
    }

    /// Runs every job in turn, catching panics, with progress on stderr.
    fn run(&self) -> Results {
        let progress = Progress::start(self.jobs.len());
        let panics = catch_panics(progress.clone());
        let mut results = Results::default();
        for (i, job) in self.jobs.iter().enumerate() {
            progress.begin(i, &format!("{}::{}", job.backend, job.scenario));
            lock(&panics).take();
            let start = Instant::now();
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| self.run_one(job)));
            let took = start.elapsed();
            let outcome = outcome.unwrap_or_else(|payload| {
                let recorded = lock(&panics).take();
                Err(recorded.unwrap_or_else(|| format!("panicked: {}", payload_str(&*payload))))
            });
            progress.end(took, &outcome);
            results
                .cells
                .insert((job.backend, job.scenario), (took, outcome));
        }
        results.took = progress.finish();
        let _ = panic::take_hook();
        results
    }

    fn run_one(&self, job: &Job) -> Outcome {
        match job.run {
            Run::Backend(f) => {
                let mut b = make_backend(job.backend, self.seed);
                f(&mut *b)
            }
            Run::Interop(f) => f(self
                .launcher
                .as_ref()
                .expect("interop jobs have a launcher")),
        }
    }
}

/// The interop programs, checked to exist.
fn launcher(go: PathBuf, rumor: Option<PathBuf>) -> Result<Launcher, String> {
    let rumor = match rumor {
        Some(p) => p,
        None => std::env::current_exe()
            .map_err(|e| format!("finding this program's directory: {e}"))?
            .with_file_name("rumor"),
    };
    if !rumor.is_file() {
        return Err(format!(
            "no rumor binary at {} (build it with `cargo build --release`, or pass --rumor)",
            rumor.display()
        ));
    }
    if !go.is_file() {
        return Err(format!("no Go peer at {}", go.display()));
    }
    Ok(Launcher {
        rumor,
        go,
        common: interop::common_flags(),
    })
}

fn payload_str(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(non-string panic payload)"
    }
}

/// Replaces the panic hook for the run: a panic on this thread (a failing scenario) is
/// recorded, with its location, as the scenario's failure; a panic on any other thread (a
/// node's) is printed above the progress bar rather than through it.
fn catch_panics(progress: Arc<Progress>) -> Arc<Mutex<Option<String>>> {
    let recorded = Arc::new(Mutex::new(None));
    let slot = recorded.clone();
    let main: ThreadId = thread::current().id();
    panic::set_hook(Box::new(move |info| {
        let msg = payload_str(info.payload());
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let t = thread::current();
        if t.id() == main {
            *lock(&slot) = Some(format!("{msg} (at {at})"));
        } else {
            let name = t.name().unwrap_or("<unnamed>");
            progress.note(&format!("thread '{name}' panicked at {at}: {msg}"));
        }
    }));
    recorded
}

/// `0.25s`, `12.3s`, or `4m05s` from ten minutes on.
fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1.0 {
        format!("{s:.2}s")
    } else if s < 600.0 {
        format!("{s:.1}s")
    } else {
        let s = d.as_secs();
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

/// The run's progress on stderr: on a terminal one line redrawn in place (redrawn every
/// quarter second by a ticker thread, so the clock moves during a long scenario); otherwise a
/// plain line as each scenario starts and ends.
struct Progress {
    tty: bool,
    total: usize,
    start: Instant,
    state: Mutex<State>,
}

struct State {
    done: usize,
    current: String,
    since: Instant,
    finished: bool,
}

impl Progress {
    /// Width of the bar line, so that a redraw never wraps on an 80-column terminal.
    const WIDTH: usize = 79;

    fn start(total: usize) -> Arc<Self> {
        let p = Arc::new(Progress {
            tty: std::io::stderr().is_terminal(),
            total,
            start: Instant::now(),
            state: Mutex::new(State {
                done: 0,
                current: String::new(),
                since: Instant::now(),
                finished: false,
            }),
        });
        if p.tty {
            let ticker = p.clone();
            thread::spawn(move || {
                loop {
                    thread::sleep(Duration::from_millis(250));
                    let s = lock(&ticker.state);
                    if s.finished {
                        break;
                    }
                    ticker.draw(&s);
                }
            });
        }
        p
    }

    fn bar(&self, s: &State) -> String {
        const CELLS: usize = 16;
        let filled = s.done * CELLS / self.total.max(1);
        let line = format!(
            "[{}{}] {}/{} {} {} (total {})",
            "#".repeat(filled),
            "-".repeat(CELLS - filled),
            s.done,
            self.total,
            s.current,
            secs(s.since.elapsed()),
            secs(self.start.elapsed()),
        );
        line.chars().take(Self::WIDTH).collect()
    }

    fn draw(&self, s: &State) {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[K{}", self.bar(s));
        let _ = err.flush();
    }

    /// Prints `line` on a line of its own (above the bar on a terminal).
    fn note(&self, line: &str) {
        let s = lock(&self.state);
        if self.tty {
            eprint!("\r\x1b[K{line}\n");
            if !s.finished {
                self.draw(&s);
            }
        } else {
            eprintln!("{line}");
        }
    }

    fn begin(&self, i: usize, name: &str) {
        let mut s = lock(&self.state);
        s.current = name.to_owned();
        s.since = Instant::now();
        if self.tty {
            self.draw(&s);
        } else {
            eprintln!("[{}/{}] {name} ...", i + 1, self.total);
        }
    }

    fn end(&self, took: Duration, outcome: &Outcome) {
        let mut s = lock(&self.state);
        s.done += 1;
        let head = format!("[{}/{}] {}", s.done, self.total, s.current);
        let line = match outcome {
            Ok(report) if !self.tty => format!("{head} ok {}: {report}", secs(took)),
            Ok(_) => String::new(),
            Err(e) => {
                let first = e.lines().next().unwrap_or("");
                format!("{head} FAIL {}: {first}", secs(took))
            }
        };
        drop(s);
        if !line.is_empty() {
            self.note(&line);
        } else {
            self.draw(&lock(&self.state));
        }
    }

    /// Stops the ticker and clears the bar; returns the run's duration.
    fn finish(&self) -> Duration {
        let mut s = lock(&self.state);
        s.finished = true;
        if self.tty {
            eprint!("\r\x1b[K");
        }
        self.start.elapsed()
    }
}

/// What each job did.
#[derive(Default)]
struct Results {
    cells: HashMap<(&'static str, &'static str), (Duration, Outcome)>,
    took: Duration,
}

impl Results {
    fn failed(&self) -> usize {
        self.cells.values().filter(|(_, o)| o.is_err()).count()
    }

    /// The matrix, the failures and the total line.
    fn report(&self, plan: &Plan) -> String {
        let failed = self.failed();
        let run = self.cells.len();
        let sim = if plan.columns.contains(&"sim") {
            format!(", simulator seed {}", plan.seed)
        } else {
            String::new()
        };
        format!(
            "{}{}\n{}: {run} run, {} passed, {failed} failed in {}{sim}\n",
            self.matrix(plan),
            self.failures(plan),
            if failed == 0 { "ok" } else { "FAILED" },
            run - failed,
            secs(self.took),
        )
    }

    /// A row per scenario, a column per backend.
    fn matrix(&self, plan: &Plan) -> String {
        let cell = |col: &str, row: &str| match self.cells.get(&(col, row)) {
            Some((took, Ok(_))) => format!("ok {}", secs(*took)),
            Some((_, Err(_))) => "FAIL".to_owned(),
            None => "-".to_owned(),
        };
        let first = plan
            .rows
            .iter()
            .map(|r| r.len())
            .fold("scenario".len(), usize::max);
        let widths: Vec<usize> = plan
            .columns
            .iter()
            .map(|c| {
                plan.rows
                    .iter()
                    .map(|r| cell(c, r).len())
                    .fold(c.len(), usize::max)
            })
            .collect();
        let line = |label: &str, cells: Vec<String>| {
            let mut l = format!("{label:first$}");
            for (c, w) in cells.iter().zip(&widths) {
                l.push_str(&format!("  {c:w$}"));
            }
            l.trim_end().to_owned() + "\n"
        };
        let mut out = line(
            "scenario",
            plan.columns.iter().map(|c| c.to_string()).collect(),
        );
        for row in &plan.rows {
            out += &line(row, plan.columns.iter().map(|c| cell(c, row)).collect());
        }
        out
    }

    /// Each failure's whole message, in the order the jobs ran.
    fn failures(&self, plan: &Plan) -> String {
        let mut out = String::new();
        for j in &plan.jobs {
            if let Some((took, Err(e))) = self.cells.get(&(j.backend, j.scenario)) {
                if out.is_empty() {
                    out += "\nfailures:\n";
                }
                out += &format!("\n{}::{} ({}):\n", j.backend, j.scenario, secs(*took));
                for l in e.lines() {
                    out += &format!("    {l}\n");
                }
            }
        }
        out
    }
}
