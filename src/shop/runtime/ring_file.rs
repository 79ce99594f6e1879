//! The shop's ring in a shared file (`ShopConfig::ring_file`), so
//! `ringmaster stat` can watch the engine from outside; or a private ring.
//! (Under `--cfg loom` there are no shared rings: always private.)

use super::config::ShopConfig;
use super::error::ShopError;
use crate::shop::domain::ProductEvent;
use crate::{Graph, GraphBuilder, MultiProducer, RingConfig};

/// The shared ring backing a shop, when there is one.
#[cfg(not(loom))]
pub(crate) type RingFile = crate::shm::SharedRing<ProductEvent>;
/// Never constructed under loom.
#[cfg(loom)]
#[derive(Debug)]
pub(crate) enum RingFile {}

/// Create the ring file the configuration asks for (replacing one a dead
/// run left), or none.
pub(crate) fn create(
    config: &ShopConfig,
    ring: &RingConfig,
) -> Result<Option<RingFile>, ShopError> {
    #[cfg(not(loom))]
    {
        let Some(path) = &config.ring_file else {
            return Ok(None);
        };
        let options = crate::shm::SharedOptions::default()
            .multi_producer(true)
            .replace_stale(true)
            .file_mode(config.file_mode);
        Ok(Some(RingFile::create(path, ring, &options)?))
    }
    #[cfg(loom)]
    {
        let _ = (config, ring);
        Ok(None)
    }
}

/// A graph builder over the file's ring, or over a new private one.
pub(crate) fn builder(file: Option<&RingFile>, ring: RingConfig) -> GraphBuilder<ProductEvent> {
    match file {
        #[cfg(not(loom))]
        Some(file) => file.consumers(),
        #[cfg(loom)]
        Some(file) => match *file {},
        None => GraphBuilder::new(ring),
    }
}

/// Build the stages and the producer.
pub(crate) fn build(
    file: Option<&RingFile>,
    builder: GraphBuilder<ProductEvent>,
) -> Result<(MultiProducer<ProductEvent>, Graph<ProductEvent>), ShopError> {
    match file {
        #[cfg(not(loom))]
        Some(file) => Ok((file.multi_producer()?, builder.build_consumers()?)),
        #[cfg(loom)]
        Some(file) => match *file {},
        None => Ok(builder.build_multi_producer()?),
    }
}

/// Remove the file at close.
pub(crate) fn remove(file: RingFile) {
    #[cfg(not(loom))]
    if let Err(e) = file.remove() {
        tracing::warn!(error = %e, "removing the shop's ring file failed");
    }
    #[cfg(loom)]
    match file {}
}
