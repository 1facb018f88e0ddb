//! Knative / Lambda entry point of the `admin` function.

fn main() -> std::process::ExitCode {
    tg_platform::run_function(admin::FUNCTION)
}
