//! Every key of the workbench in one table: lookup and the help overlay both read it, so the
//! help can never disagree with what the keys do. Each row names the action of all its keys;
//! keys that share a help line but not an action (the arrows) get a row each, the rows after
//! the first with an empty help string, which the overlay skips.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::Screen;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Help,
    NextScreen,
    PrevScreen,
    Goto(Screen),
    CycleTheme,
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    /// Enter: edit a field, open a run, filter by a cell.
    Activate,
    StartRun,
    SaveRecipe,
    PauseResume,
    StopRun,
    /// Go on with an interrupted, cancelled or failed run from its saved state.
    ResumeRun,
    SaveCheckpoint,
    ToggleNormalised,
    CycleFilter,
    CycleSort,
    ToggleSplit,
    Export,
    /// Evaluation: move between the confusion matrix and the predictions.
    ToggleFocus,
    /// Close a detail view.
    Close,
    /// Evaluation: the reliability diagram (calibration) in place of the predictions.
    ToggleReliability,
    /// Evaluation: type a sentence and see the model's prediction and its explanation.
    TrySentence,
    /// Evaluation: the attention maps of the open prediction.
    ShowAttention,
    /// Evaluation: attribute the open prediction to another class (label, tag).
    NextTarget,
    /// Evaluation: the sentence vectors before and after fine-tuning.
    ShowRepresentations,
    /// New run: the first masked-LM batch of these settings, token by token.
    InspectMasking,
    /// New run: load a recipe into the form (a sweep's: start it).
    OpenRecipe,
    /// New run: these settings pretrained and from scratch, at each seed, compared.
    StartComparison,
    /// New run: the label-budget curve of these settings (shares × pretrained/scratch × seeds).
    StartLabelBudget,
    /// Runs: give the run a label of your own.
    Rename,
    Mark,
    CompareMarked,
    Delete,
    Refresh,
    CycleMetric,
    ToggleAlign,
    /// Compare: measure Δ against the next run.
    CycleBaseline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    On(Screen),
}

pub struct Binding {
    pub scope: Scope,
    pub codes: &'static [KeyCode],
    /// How the help overlay writes the key(s).
    pub keys: &'static str,
    pub action: Action,
    pub help: &'static str,
}

const fn bind(
    scope: Scope,
    codes: &'static [KeyCode],
    keys: &'static str,
    action: Action,
    help: &'static str,
) -> Binding {
    Binding { scope, codes, keys, action, help }
}

use KeyCode::{BackTab, Char, Delete as Del, Down, Enter, Esc, Left, PageDown, PageUp, Right, Tab, Up};
use Scope::{Global, On};
use Screen::{Compare, Eval, Experiments, Runs, Setup, Train};

pub const BINDINGS: &[Binding] = &[
    bind(On(Setup), &[Up, Char('k')], "↑ ↓", Action::Up, "move between fields"),
    bind(On(Setup), &[Down, Char('j')], "", Action::Down, ""),
    bind(On(Setup), &[Left, Char('h')], "← →", Action::Left, "change a choice or switch"),
    bind(On(Setup), &[Right, Char('l')], "", Action::Right, ""),
    bind(On(Setup), &[Enter], "Enter", Action::Activate, "edit a value (Enter keeps it, Esc cancels)"),
    bind(On(Setup), &[Char('s')], "s", Action::StartRun, "start the run (queued if one is training)"),
    bind(On(Setup), &[Char('w')], "w", Action::SaveRecipe, "write the settings as a recipe TOML"),
    bind(
        On(Setup),
        &[Char('o')],
        "o",
        Action::OpenRecipe,
        "open a recipe: load its settings (a sweep's, such as the lessons: start it)",
    ),
    bind(
        On(Setup),
        &[Char('i')],
        "i",
        Action::InspectMasking,
        "inspect the masking: the first masked-LM batch, each hidden token and what replaced it",
    ),
    bind(
        On(Setup),
        &[Char('b')],
        "b",
        Action::StartComparison,
        "pretrained vs from scratch: these settings twice (at each seed), compared on screen 6",
    ),
    bind(
        On(Setup),
        &[Char('L')],
        "L",
        Action::StartLabelBudget,
        "label-budget curve: 5/10/30/100% of the labels, pretrained and from scratch, at each seed",
    ),
    bind(On(Train), &[Char(' '), Char('p')], "Space p", Action::PauseResume, "pause or resume training"),
    bind(On(Train), &[Char('s')], "s", Action::StopRun, "stop the run (asks first; recorded as cancelled)"),
    bind(On(Train), &[Char('c')], "c", Action::SaveCheckpoint, "save a checkpoint now"),
    bind(On(Train), &[Left], "← →", Action::Left, "show another run of this session"),
    bind(On(Train), &[Right], "", Action::Right, ""),
    bind(On(Train), &[Char('n')], "n", Action::Goto(Setup), "set up another run (it queues)"),
    bind(On(Eval), &[Up, Char('k')], "arrows", Action::Up, "select a matrix cell, or a prediction"),
    bind(On(Eval), &[Down, Char('j')], "", Action::Down, ""),
    bind(On(Eval), &[Left, Char('h')], "", Action::Left, ""),
    bind(On(Eval), &[Right, Char('l')], "", Action::Right, ""),
    bind(On(Eval), &[Char('p')], "p", Action::ToggleFocus, "move between the matrix and the predictions"),
    bind(
        On(Eval),
        &[Enter],
        "Enter",
        Action::Activate,
        "matrix: show only the cell's examples; predictions: the whole prediction",
    ),
    bind(On(Eval), &[Esc], "Esc", Action::Close, "close the prediction's details or the calibration view"),
    bind(
        On(Eval),
        &[Char('c')],
        "c",
        Action::ToggleReliability,
        "calibration: how often each probability is right",
    ),
    bind(On(Eval), &[Char('f')], "f", Action::CycleFilter, "predictions: errors / all / selected cell"),
    bind(On(Eval), &[Char('o')], "o", Action::CycleSort, "sort by confidence (confident mistakes first)"),
    bind(On(Eval), &[Char('m')], "m", Action::ToggleNormalised, "counts or row-normalised matrix"),
    bind(On(Eval), &[Char('v')], "v", Action::ToggleSplit, "switch between test and validation"),
    bind(On(Eval), &[PageUp, Char('K')], "PgUp PgDn", Action::PageUp, "scroll the predictions"),
    bind(On(Eval), &[PageDown, Char('J')], "", Action::PageDown, ""),
    bind(On(Eval), &[Char('x')], "x", Action::Export, "export the open view as a PNG, else the run's plots"),
    bind(
        On(Eval),
        &[Char('e')],
        "e",
        Action::TrySentence,
        "try a sentence: type one, Enter predicts and explains it",
    ),
    bind(
        On(Eval),
        &[Char('a')],
        "a",
        Action::ShowAttention,
        "open prediction: its attention maps (layer × head; arrows pick one) and back",
    ),
    bind(
        On(Eval),
        &[Char('g')],
        "g",
        Action::NextTarget,
        "open prediction: attribute it to the next class (tagging: next tag, then next word)",
    ),
    bind(
        On(Eval),
        &[Char('r')],
        "r",
        Action::ShowRepresentations,
        "representations: [CLS] vectors before and after fine-tuning, in 2-D (PCA)",
    ),
    bind(On(Runs), &[Up, Char('k')], "↑ ↓", Action::Up, "select a run"),
    bind(On(Runs), &[Down, Char('j')], "", Action::Down, ""),
    bind(On(Runs), &[Enter], "Enter", Action::Activate, "open the run's evaluation"),
    bind(On(Runs), &[Char(' ')], "Space", Action::Mark, "mark or unmark for comparison"),
    bind(On(Runs), &[Char('c')], "c", Action::CompareMarked, "compare the marked runs"),
    bind(On(Runs), &[Char('d'), Del], "d", Action::Delete, "delete the run (asks first)"),
    bind(On(Runs), &[Char('r')], "r", Action::ResumeRun, "resume an interrupted, cancelled or failed run"),
    bind(On(Runs), &[Char('u')], "u", Action::Refresh, "re-read the runs folder"),
    bind(
        On(Runs),
        &[Char('n')],
        "n",
        Action::Rename,
        "label the run (legends and titles use it; empty: automatic)",
    ),
    bind(On(Runs), &[Char('x')], "x", Action::Export, "export plots of the marked runs"),
    bind(
        On(Compare),
        &[Char('m')],
        "m",
        Action::CycleMetric,
        "curve: train / valid / masked-LM loss, accuracy, F1",
    ),
    bind(On(Compare), &[Char('a')], "a", Action::ToggleAlign, "align curves by step or by epoch"),
    bind(
        On(Compare),
        &[Char('p')],
        "p",
        Action::ToggleFocus,
        "curves or predictions: confusion matrices side by side, the examples where the runs disagree",
    ),
    bind(
        On(Compare),
        &[Char('b')],
        "b",
        Action::CycleBaseline,
        "the run the Δ column measures against: the next one",
    ),
    bind(On(Compare), &[Left, Char('h')], "← →", Action::Left, "predictions: the run set against #1"),
    bind(On(Compare), &[Right, Char('l')], "", Action::Right, ""),
    bind(
        On(Compare),
        &[Up, Char('k')],
        "↑ ↓",
        Action::Up,
        "scroll the config diff (predictions: the disagreements)",
    ),
    bind(On(Compare), &[Down, Char('j')], "", Action::Down, ""),
    bind(On(Compare), &[Char('x')], "x", Action::Export, "export comparison plots (PNG)"),
    bind(On(Experiments), &[Up, Char('k')], "↑ ↓", Action::Up, "select a setting"),
    bind(On(Experiments), &[Down, Char('j')], "", Action::Down, ""),
    bind(On(Experiments), &[Left, Char('h')], "← →", Action::Left, "show another sweep"),
    bind(On(Experiments), &[Right, Char('l')], "", Action::Right, ""),
    bind(On(Experiments), &[Enter], "Enter", Action::Activate, "open the setting's first finished run"),
    bind(On(Experiments), &[Char('o')], "o", Action::CycleSort, "sort: grid order, score, examples, setting"),
    bind(
        On(Experiments),
        &[Char('c')],
        "c",
        Action::CompareMarked,
        "compare the sweep's finished runs (curves, Δ)",
    ),
    bind(
        On(Experiments),
        &[Char('s')],
        "s",
        Action::StartRun,
        "go on with the sweep: queue its runs not yet run, resume stopped ones",
    ),
    bind(On(Experiments), &[Char('x')], "x", Action::Export, "export the summary plot (PNG)"),
    bind(On(Experiments), &[Char('u')], "u", Action::Refresh, "re-read the sweeps"),
    bind(
        Global,
        &[Char('1')],
        "1-6",
        Action::Goto(Setup),
        "screens: new run, training, evaluation, runs, compare, experiments",
    ),
    bind(Global, &[Char('2')], "", Action::Goto(Train), ""),
    bind(Global, &[Char('3')], "", Action::Goto(Eval), ""),
    bind(Global, &[Char('4')], "", Action::Goto(Runs), ""),
    bind(Global, &[Char('5')], "", Action::Goto(Compare), ""),
    bind(Global, &[Char('6')], "", Action::Goto(Experiments), ""),
    bind(Global, &[Tab], "Tab", Action::NextScreen, "next screen (Shift-Tab: previous)"),
    bind(Global, &[BackTab], "", Action::PrevScreen, ""),
    bind(Global, &[Char('t')], "t", Action::CycleTheme, "theme: dark / light / high contrast"),
    bind(Global, &[Char('?'), KeyCode::F(1)], "?", Action::Help, "this help"),
    bind(Global, &[Char('q')], "q", Action::Quit, "quit (asks first while a run trains)"),
];

/// The action of a key on a screen: the screen's own bindings first, then the global ones.
/// Ctrl-C always quits (raw mode turns it into a key).
pub fn lookup(screen: Screen, key: &KeyEvent) -> Option<Action> {
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return matches!(key.code, Char('c' | 'q')).then_some(Action::Quit);
    }
    let find = |scope: Scope| {
        BINDINGS.iter().find(|b| b.scope == scope && b.codes.contains(&key.code)).map(|b| b.action)
    };
    find(On(screen)).or_else(|| find(Global))
}

/// The help lines of a screen: its own keys, then the global ones.
pub fn help_for(screen: Screen) -> Vec<(&'static str, &'static str)> {
    BINDINGS
        .iter()
        .filter(|b| b.scope == On(screen))
        .chain(BINDINGS.iter().filter(|b| b.scope == Global))
        .filter(|b| !b.help.is_empty())
        .map(|b| (b.keys, b.help))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn screen_keys_win_over_global_ones() {
        assert_eq!(lookup(Setup, &key(Char('s'))), Some(Action::StartRun));
        assert_eq!(lookup(Train, &key(Char('s'))), Some(Action::StopRun));
        assert_eq!(lookup(Runs, &key(Char('3'))), Some(Action::Goto(Eval)));
        assert_eq!(lookup(Runs, &key(Char('z'))), None);
        assert_eq!(lookup(Setup, &KeyEvent::new(Char('c'), KeyModifiers::CONTROL)), Some(Action::Quit));
    }

    #[test]
    fn arrows_and_page_keys_keep_their_direction_on_every_screen() {
        let directions = [
            (Up, Action::Up),
            (Char('k'), Action::Up),
            (Down, Action::Down),
            (Char('j'), Action::Down),
            (Left, Action::Left),
            (Char('h'), Action::Left),
            (Right, Action::Right),
            (Char('l'), Action::Right),
            (PageUp, Action::PageUp),
            (Char('K'), Action::PageUp),
            (PageDown, Action::PageDown),
            (Char('J'), Action::PageDown),
        ];
        let moves = directions.map(|(_, a)| a);
        for screen in Screen::ALL {
            for (code, direction) in directions {
                // A key may mean something else on a screen (`l`, `K`), but never another direction.
                if let Some(action) = lookup(screen, &key(code)).filter(|a| moves.contains(a)) {
                    assert_eq!(action, direction, "{code:?} on {screen:?}");
                }
            }
        }
        // Where arrows move something, all four (or both of a pair) are bound.
        for (screen, codes) in [
            (Setup, &[Up, Down, Left, Right][..]),
            (Train, &[Left, Right]),
            (Eval, &[Up, Down, Left, Right, PageUp, PageDown]),
            (Runs, &[Up, Down]),
            (Compare, &[Up, Down, Left, Right]),
            (Experiments, &[Up, Down, Left, Right]),
        ] {
            for code in codes {
                assert!(lookup(screen, &key(*code)).is_some(), "{code:?} on {screen:?}");
            }
        }
    }

    #[test]
    fn every_screen_has_help_and_no_key_is_bound_twice_in_one_scope() {
        for screen in Screen::ALL {
            let help = help_for(screen);
            assert!(help.iter().any(|(k, _)| *k == "q"), "{screen:?}");
            assert!(help.len() > 6, "{screen:?}");
        }
        for (i, a) in BINDINGS.iter().enumerate() {
            for b in &BINDINGS[i + 1..] {
                let shared = a.codes.iter().any(|c| b.codes.contains(c));
                assert!(!(a.scope == b.scope && shared), "{} / {} share a key", a.help, b.help);
            }
        }
    }
}
