//! The interactive workbench: terminal set-up and restore, and the event loop.
//!
//! One channel feeds the loop: keys (from an input thread), trainer events (from each run's
//! thread) and signals. The loop waits for a message, drains what else has arrived, lets
//! `update` change the `App`, carries out the effects, and draws at most 20 frames a second,
//! only when something changed. The trainer never waits for the UI.

pub mod app;
pub mod effects;
pub mod form;
pub mod keymap;
pub mod series;
pub mod theme;
pub mod update;
pub mod view;
pub mod widgets;

use std::io::{IsTerminal, Stdout};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crossterm::event::{self, Event};
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use app::{App, Settings};
use effects::Effects;
use theme::ThemeKind;
use update::{Effect, Msg, update};

/// At most 20 frames a second.
const FRAME: Duration = Duration::from_millis(50);
/// How long quitting waits for a run to stop cleanly before leaving anyway.
const STOP_GRACE: Duration = Duration::from_secs(20);

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
    /// The user quit.
    Quit,
    /// A signal (SIGTERM, SIGHUP, SIGINT from outside) ended it.
    Signalled,
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
        let _ = signals.send(Msg::Signal("terminated by a signal".into()));
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
    let mut terminal = TerminalGuard::enter()?;
    spawn_input(inbox);
    let outcome = event_loop(&mut terminal.terminal, &mut app, &mut effects, &messages);
    drop(terminal);
    outcome?;
    Ok(if app.signalled { Ending::Signalled } else { Ending::Quit })
}

fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    app: &mut App,
    effects: &mut Effects,
    messages: &Receiver<Msg>,
) -> Result<(), TuiError> {
    let mut pending: Vec<Msg> = effects.startup();
    pending.extend(effects.run(Effect::ListRuns));
    let mut dirty = true;
    let mut last_draw = Instant::now().checked_sub(FRAME).unwrap_or_else(Instant::now);
    let mut quit_deadline: Option<Instant> = None;
    loop {
        while let Some(msg) = pending.pop() {
            dirty = true;
            for effect in update(app, msg) {
                if effect == Effect::Exit {
                    app.exit = true;
                } else {
                    pending.extend(effects.run(effect));
                }
            }
        }
        if app.exit {
            return Ok(());
        }
        if app.quitting && quit_deadline.is_none() {
            quit_deadline = Some(Instant::now() + STOP_GRACE);
        }
        if quit_deadline.is_some_and(|d| Instant::now() > d) {
            effects.stop_all();
            return Ok(());
        }
        if dirty && last_draw.elapsed() >= FRAME {
            terminal.draw(|frame| view::draw(frame, app))?;
            last_draw = Instant::now();
            dirty = false;
        }
        let wait = if dirty { FRAME.saturating_sub(last_draw.elapsed()) } else { Duration::from_millis(500) };
        match messages.recv_timeout(wait) {
            Ok(msg) => {
                pending.push(msg);
                // Take everything that has queued up; `pop` must see them in arrival order.
                pending.extend(messages.try_iter());
                pending.reverse();
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

/// Raw mode and the alternate screen while alive; restores the terminal when dropped, and on
/// a panic of the UI thread. Panics of other threads (a trainer) are reported by the run and
/// must not tear the screen down, so the hook leaves them alone.
struct TerminalGuard {
    terminal: Terminal<CrosstermBackend<Stdout>>,
    previous_hook: Arc<dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync>,
}

impl TerminalGuard {
    fn enter() -> std::io::Result<Self> {
        let previous_hook: Arc<dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync> =
            Arc::from(std::panic::take_hook());
        let ui_thread = std::thread::current().id();
        let hook = Arc::clone(&previous_hook);
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().id() == ui_thread {
                restore_terminal();
                hook(info);
            }
        }));
        enable_raw_mode()?;
        crossterm::execute!(std::io::stdout(), EnterAlternateScreen)?;
        let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
        terminal.clear()?;
        Ok(Self { terminal, previous_hook })
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = self.terminal.show_cursor();
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
