//! Dimensionality reduction, the Gaussian fit used for sampling, and the small
//! linear algebra they need: math only, no drawing and no model.

pub mod gaussian;
pub mod linalg;
pub mod pca;
pub mod tsne;
