//! Dimensionality reduction, the Gaussian fit used for sampling, the ROC AUC,
//! and the small linear algebra they need: math only, no drawing and no model.

pub mod frechet;
pub mod gaussian;
pub mod linalg;
pub mod nearest;
pub mod pca;
pub mod roc;
pub mod tsne;
