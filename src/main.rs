fn main() -> std::process::ExitCode {
    flowtrack::cli::main()
}
