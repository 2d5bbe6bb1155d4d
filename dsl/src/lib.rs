//! The TICKscript DSL: tokens, the lalrpop grammar (with `grammar.ebnf` as
//! the normative grammar users read), an AST with spans, diagnostics, and
//! `compile(script, task_type) -> Plan`, a serialisable DAG of typed node
//! specs. It depends on nothing else of ours; the runtime in `pipeline`
//! turns a plan into running nodes.
