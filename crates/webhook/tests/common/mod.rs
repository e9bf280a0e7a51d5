//! Helpers shared by the webhook's integration tests: caches filled by hand and a client that
//! never reaches an API server.

#![allow(dead_code)] // each test binary uses some of these helpers

use kube::core::{PartialObjectMeta, PartialObjectMetaExt as _};
use kube::runtime::reflector::Store;
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher::Event;

/// A cache holding exactly `objects`, as after a watch's initial list.
pub fn filled<K: kube::Resource<DynamicType = ()> + Clone + 'static>(objects: Vec<K>) -> Store<K> {
    let mut writer: Writer<K> = Writer::default();
    let reader = writer.as_reader();
    writer.apply_watcher_event(&Event::Init);
    for o in objects {
        writer.apply_watcher_event(&Event::InitApply(o));
    }
    writer.apply_watcher_event(&Event::InitDone);
    reader
}

/// A metadata-only cache holding the metadata of `objects`, as the webhook keeps ReplicaSets and
/// StatefulSets.
pub fn metadata_of<K>(objects: Vec<K>) -> Store<PartialObjectMeta<K>>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    filled(objects.into_iter().map(|o| o.meta().clone().into_response_partial::<K>()).collect())
}

/// A client whose requests go nowhere (the tests' caches answer everything). Needs a runtime.
pub fn offline_client() -> kube::Client {
    diurnal_testing::mock_client().0
}
