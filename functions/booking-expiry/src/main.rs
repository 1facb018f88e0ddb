//! Knative / Lambda entry point of the `booking-expiry` function.

fn main() -> std::process::ExitCode {
    tg_platform::run_function(booking_expiry::FUNCTION)
}
