//! Every integration test but one, compiled into a single test binary: one
//! link instead of twelve, and their tests run in parallel. Each file is still
//! its own module, named after it (`cargo test --test all cli::` runs one).
//! tests/parsers_never_panic.rs stays a binary of its own: it installs a
//! counting global allocator.

#[path = "browser.rs"]
mod browser;
#[path = "cli.rs"]
mod cli;
#[path = "conv_model.rs"]
mod conv_model;
#[path = "convolution_chapter.rs"]
mod convolution_chapter;
#[path = "docs.rs"]
mod docs;
#[path = "figures.rs"]
mod figures;
#[path = "gradcheck.rs"]
mod gradcheck;
#[path = "hardening.rs"]
mod hardening;
#[path = "hardening_second.rs"]
mod hardening_second;
#[path = "judge.rs"]
mod judge;
#[path = "priors.rs"]
mod priors;
#[path = "resume.rs"]
mod resume;
#[path = "support.rs"]
mod support;
#[path = "torch_conv.rs"]
mod torch_conv;
#[path = "torch_diffusion.rs"]
mod torch_diffusion;
#[path = "torch_reference.rs"]
mod torch_reference;
#[path = "training.rs"]
mod training;
#[path = "walkthrough.rs"]
mod walkthrough;
