pub fn run(_config: &crate::config::JudgeConfig) -> crate::error::Result<()> {
    Err(crate::error::Error::bad_flag("judge", "not yet"))
}
