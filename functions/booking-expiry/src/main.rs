//! Knative / Lambda entry point of the `booking-expiry` function. Its only route is
//! the scheduler's trigger, so it refuses to start without the scheduler's
//! shared secret (`TICKETGW_SCHEDULER_TOKEN`).

fn main() -> std::process::ExitCode {
    if std::env::var("TICKETGW_SCHEDULER_TOKEN").map_or(true, |t| t.trim().is_empty()) {
        eprintln!(
            "booking-expiry: TICKETGW_SCHEDULER_TOKEN is required (the scheduler presents it)"
        );
        return std::process::ExitCode::from(2);
    }
    tg_platform::run_function(booking_expiry::FUNCTION)
}
