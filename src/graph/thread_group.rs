//! Several handler stages driven by one thread (see
//! [`StageBuilder::same_thread_as`](super::StageBuilder::same_thread_as)).
//!
//! ```text
//! loop:
//!     for stage in stages (dependency order):   // nothing waits here
//!         stage.step(wait = false)              // whatever is readable now
//!     if no stage had anything:
//!         stages[0].step(wait = true)           // sleep on the group's input
//! ```
//!
//! Every stage after the first depends only on stages of the group, or on
//! exactly what the first one depends on (the builder checks). So once a
//! pass finds nothing to do, nothing can arrive except through the first
//! stage's barrier, and waiting on it alone loses no wake-up. Each stage
//! keeps its own sequence, panic policy and latency figures: sharing a
//! thread changes where stages run, not what they see.

use super::processor::{Stage, Step};

/// The stages of one thread, the group's first stage first.
pub(crate) struct ThreadGroup {
    stages: Vec<Box<dyn Stage>>,
}

impl ThreadGroup {
    pub(crate) fn new(stages: Vec<Box<dyn Stage>>) -> Self {
        Self { stages }
    }

    pub(crate) fn run(mut self) {
        let mut started = 0;
        for stage in &mut self.stages {
            if !stage.start() {
                break;
            }
            started += 1;
        }
        if started == self.stages.len() {
            self.turn();
        }
        for stage in &mut self.stages[..started] {
            stage.finish();
        }
    }

    fn turn(&mut self) {
        loop {
            let mut progressed = false;
            for stage in &mut self.stages {
                match stage.step(false) {
                    Step::Stopped => return,
                    Step::Progressed => progressed = true,
                    Step::Idle => {}
                }
            }
            if !progressed {
                let Some((first, rest)) = self.stages.split_first_mut() else {
                    return;
                };
                for stage in rest {
                    stage.idle();
                }
                // The first stage records its own idle time as it waits.
                if first.step(true) == Step::Stopped {
                    return;
                }
            }
        }
    }
}
