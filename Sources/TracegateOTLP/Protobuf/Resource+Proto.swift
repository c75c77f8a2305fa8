import COTLP
import TracegateCore

extension Resource {
    init(proto: UnsafePointer<CResource>?, strings: borrowing StringTable) {
        guard let r = proto?.pointee else {
            self.init()
            return
        }
        self.init(
            attributes: [Attribute](proto: r.n_attributes, r.attributes, strings: strings, level: ValueLevel.resourceAttribute),
            droppedAttributesCount: r.dropped_attributes_count)
    }
}

extension InstrumentationScope {
    init(proto: UnsafePointer<CScope>?, strings: borrowing StringTable) {
        guard let s = proto?.pointee else {
            self.init()
            return
        }
        self.init(
            name: strings.string(s.name), version: strings.string(s.version),
            attributes: [Attribute](proto: s.n_attributes, s.attributes, strings: strings, level: ValueLevel.scopeAttribute),
            droppedAttributesCount: s.dropped_attributes_count)
    }
}
