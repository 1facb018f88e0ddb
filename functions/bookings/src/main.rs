//! Knative / Lambda entry point of the `bookings` function.

fn main() -> std::process::ExitCode {
    tg_platform::run_function(bookings::FUNCTION)
}
