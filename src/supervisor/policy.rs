//! What the supervisor does with a map once a round of checks is in:
//! queueing with no path left, failing back to the best group; and what
//! it leaves behind when it stops.

use crate::dm::DevId;
use crate::error::chain;
use crate::log;
use crate::table::GroupState;

use super::state::Supervisor;

impl Supervisor<'_> {
    /// Once per round of checks on map `name`.
    pub fn policy(&mut self, name: &str) {
        let Some(v) = self.cached_view(name) else {
            return;
        };
        self.no_path_policy(name, &v);
        if self.opts.failback {
            self.failback(name, &v);
        }
    }

    /// Queueing with no path left: forever, or `no_path_retry` rounds.
    fn no_path_policy(&mut self, name: &str, v: &crate::maps::MapView) {
        let any_active = v.status.first_usable_group().is_some();
        let Some(m) = self.maps.get_mut(name) else {
            return;
        };
        if any_active {
            if m.queueing_off {
                self.views.borrow_mut().remove(name);
                let _ = self
                    .ctl
                    .target_msg(DevId::Name(name), 0, "queue_if_no_path");
                log::notice(&format!("{name}: a path is back, queueing restored"));
                m.queueing_off = false;
            }
            m.all_down_checks = 0;
            return;
        }
        m.all_down_checks += 1;
        if m.all_down_checks == 1 {
            log::warn(&format!(
                "{name}: all paths down; I/O is {}",
                match self.opts.no_path_retry {
                    None => "queued until one returns".to_string(),
                    Some(n) => format!("queued for {n} more checks"),
                }
            ));
        }
        if let Some(n) = self.opts.no_path_retry {
            if m.all_down_checks > n && !m.queueing_off {
                self.views.borrow_mut().remove(name);
                let _ = self.ctl.target_msg(DevId::Name(name), 0, "fail_if_no_path");
                log::err(&format!(
                    "{name}: no path for {n} checks: failing queued I/O"
                ));
                m.queueing_off = true;
            }
        }
    }

    /// Back to the best group (the first with a usable path) when I/O runs
    /// on a worse one.
    fn failback(&mut self, name: &str, v: &crate::maps::MapView) {
        let best = v.status.first_usable_group();
        let current = v
            .status
            .groups
            .iter()
            .position(|g| g.state == GroupState::Active);
        if let (Some(b), Some(c)) = (best, current) {
            if b < c {
                self.forget_view(name);
                match self
                    .ctl
                    .target_msg(DevId::Name(name), 0, &format!("switch_group {}", b + 1))
                {
                    Ok(_) => log::notice(&format!(
                        "{name}: failed back to group {} from {}",
                        b + 1,
                        c + 1
                    )),
                    Err(e) => log::warn(&format!("{name}: switch_group: {}", chain(&e))),
                }
            }
        }
    }

    /// Stopping with nobody taking over (not multipathd): as multipathd's
    /// default `queue_without_daemon no`, queueing ends, since nothing is
    /// left to end it when paths never return; a map with a path left is
    /// unaffected until it loses the last one. `--queue-without-daemon`
    /// keeps queueing. Stepping aside for multipathd never comes here.
    pub fn leave(&mut self) {
        if self.opts.queue_without_daemon {
            log::notice("exiting; maps keep queueing (--queue-without-daemon)");
            return;
        }
        for name in self.maps.keys().cloned().collect::<Vec<_>>() {
            let Some(v) = self.view(&name) else { continue };
            if !v.table.features.iter().any(|f| f == "queue_if_no_path") {
                continue;
            }
            match self
                .ctl
                .target_msg(DevId::Name(&name), 0, "fail_if_no_path")
            {
                Ok(_) => log::notice(&format!(
                    "{name}: no supervisor left: queueing off (fail_if_no_path)"
                )),
                Err(e) => log::warn(&format!("{name}: fail_if_no_path: {}", chain(&e))),
            }
        }
    }
}
