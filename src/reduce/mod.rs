//! Dimensionality reduction and the small linear algebra it needs: math only,
//! no drawing and no model.

pub mod linalg;
pub mod pca;
pub mod tsne;
