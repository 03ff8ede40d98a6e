//! The interactive workbench: terminal set-up and restore, and the event loop.
//!
//! One channel feeds the loop: keys (from an input thread), trainer events (from each run's
//! thread) and signals. The loop waits for a message, drains what else has arrived, lets
//! `update` change the `App`, carries out the effects, and draws at most 20 frames a second,
//! only when something changed. The trainer never waits for the UI, and the UI never waits for
//! a file: slow effects run on worker threads and answer with messages.

pub mod app;
pub mod effects;
pub mod form;
pub mod keymap;
pub mod series;
pub mod theme;
pub mod update;
pub mod view;
pub mod widgets;

use std::collections::VecDeque;
use std::io::{IsTerminal, Stdout};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crossterm::event::{self, Event};
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use app::{App, Lifecycle, Settings};
use effects::Effects;
use theme::ThemeKind;
use update::{Effect, Msg, update};

/// At most 20 frames a second.
const FRAME: Duration = Duration::from_millis(50);

pub struct Options {
    pub runs_dir: PathBuf,
    pub recipes_dir: PathBuf,
    pub datasets_dir: PathBuf,
    pub device: String,
    pub theme: ThemeKind,
}

#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error(
        "the workbench needs an interactive terminal. For scripts and CI use `bertbench train CONFIG` \
         (see `bertbench train --help`)"
    )]
    NotATerminal,
    #[error("terminal: {0}")]
    Io(#[from] std::io::Error),
}

/// How the workbench ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The user quit (any run was stopped cleanly first).
    Quit,
    /// A signal (SIGTERM, SIGHUP, SIGINT from outside), a lost terminal, or a forced quit that
    /// did not wait for a run to stop.
    Interrupted,
}

/// Runs the workbench until the user quits. The terminal is restored on every way out.
pub fn run(options: Options) -> Result<Ending, TuiError> {
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        return Err(TuiError::NotATerminal);
    }
    let (inbox, messages) = mpsc::channel();
    let signals = inbox.clone();
    // SIGINT from outside, SIGTERM and SIGHUP (an SSH connection dropping): leave cleanly.
    let _ = ctrlc::set_handler(move || {
        let _ = signals.send(Msg::Signal { why: "terminated by a signal".into(), at: Instant::now() });
    });
    let mut effects = Effects::new(
        inbox.clone(),
        options.runs_dir.clone(),
        options.recipes_dir.clone(),
        options.datasets_dir.clone(),
    );
    let mut app = App::new(
        Settings { runs_dir: options.runs_dir, recipes_dir: options.recipes_dir, device: options.device },
        options.theme,
    );
    let guard = TerminalGuard::enter()?;
    let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
    terminal.clear()?;
    spawn_input(inbox);
    let outcome = event_loop(&mut terminal, &mut app, &mut effects, &messages);
    let _ = terminal.show_cursor();
    drop(guard);
    outcome?;
    Ok(if app.lifecycle.is_interrupted() { Ending::Interrupted } else { Ending::Quit })
}

fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    app: &mut App,
    effects: &mut Effects,
    messages: &Receiver<Msg>,
) -> Result<(), TuiError> {
    let mut pending: VecDeque<Msg> = effects.startup().into();
    pending.extend(effects.run(Effect::ListRuns));
    let mut dirty = true;
    let mut terminal_alive = true;
    let mut last_draw = Instant::now().checked_sub(FRAME).unwrap_or_else(Instant::now);
    loop {
        while let Some(msg) = pending.pop_front() {
            dirty = true;
            for effect in update(app, msg) {
                pending.extend(effects.run(effect));
            }
        }
        if let Lifecycle::Exited { .. } = app.lifecycle {
            return Ok(());
        }
        if terminal_alive && dirty && last_draw.elapsed() >= FRAME {
            if terminal.draw(|frame| view::draw(frame, app)).is_err() {
                // The terminal is gone (an SSH connection dropped): stop runs cleanly, then leave.
                terminal_alive = false;
                pending.push_back(Msg::TerminalLost);
                continue;
            }
            last_draw = Instant::now();
            dirty = false;
        }
        let wait = if dirty { FRAME.saturating_sub(last_draw.elapsed()) } else { Duration::from_millis(500) };
        match messages.recv_timeout(wait) {
            Ok(msg) => {
                pending.push_back(msg);
                pending.extend(messages.try_iter());
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
}

/// Reads terminal input on its own thread; the loop never blocks on the keyboard.
fn spawn_input(inbox: mpsc::Sender<Msg>) {
    let _ = std::thread::Builder::new().name("input".into()).spawn(move || {
        loop {
            let msg = match event::read() {
                Ok(Event::Key(key)) => Msg::Key(key),
                Ok(Event::Resize(..)) => Msg::Resize,
                Ok(_) => continue,
                Err(_) => return,
            };
            if inbox.send(msg).is_err() {
                return;
            }
        }
    });
}

type PanicHook = Arc<dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync>;

/// Raw mode and the alternate screen while alive; restores the terminal when dropped (also
/// when entering failed half-way), and on a panic of the UI thread. Panics of other threads
/// (a trainer) are reported by the run and must not tear the screen down, so the hook leaves
/// them alone.
struct TerminalGuard {
    previous_hook: PanicHook,
}

impl TerminalGuard {
    fn enter() -> std::io::Result<Self> {
        let previous_hook: PanicHook = Arc::from(std::panic::take_hook());
        let ui_thread = std::thread::current().id();
        let hook = Arc::clone(&previous_hook);
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().id() == ui_thread {
                restore_terminal();
                hook(info);
            }
        }));
        let guard = Self { previous_hook };
        enable_raw_mode()?;
        crossterm::execute!(std::io::stdout(), EnterAlternateScreen)?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
        let previous = Arc::clone(&self.previous_hook);
        let _ = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| previous(info)));
    }
}

fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = crossterm::execute!(std::io::stdout(), LeaveAlternateScreen, crossterm::cursor::Show);
}
