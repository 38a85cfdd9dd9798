fn main() -> std::process::ExitCode {
    klaxon::cli::main()
}
