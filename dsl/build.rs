//! Generates the parser from `src/grammar.lalrpop` at build time, so the
//! generated code never lands in the repository.

fn main() {
    lalrpop::Configuration::new()
        .use_cargo_dir_conventions()
        .emit_rerun_directives(true)
        .process()
        .expect("the TICKscript grammar must generate");
}
