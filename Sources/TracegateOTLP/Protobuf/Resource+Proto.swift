import COTLP
import TracegateCore

extension Resource {
    init(proto: UnsafePointer<CResource>?) {
        guard let r = proto?.pointee else {
            self.init()
            return
        }
        self.init(attributes: [Attribute](proto: r.n_attributes, r.attributes), droppedAttributesCount: r.dropped_attributes_count)
    }
}

extension InstrumentationScope {
    init(proto: UnsafePointer<CScope>?) {
        guard let s = proto?.pointee else {
            self.init()
            return
        }
        self.init(
            name: swiftString(s.name), version: swiftString(s.version),
            attributes: [Attribute](proto: s.n_attributes, s.attributes),
            droppedAttributesCount: s.dropped_attributes_count)
    }
}
