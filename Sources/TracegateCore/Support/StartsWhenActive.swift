import NIOCore

/// A channel handler that starts something (a timer, a request) once its
/// channel is active, whether it was added before the channel became active
/// or after. `channelIsActive` may run twice (added to an active channel
/// that then reports itself active): it must start once.
public protocol StartsWhenActive: ChannelInboundHandler {
    func channelIsActive(context: ChannelHandlerContext)
}

extension StartsWhenActive {
    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { channelIsActive(context: context) }
    }

    public func channelActive(context: ChannelHandlerContext) {
        channelIsActive(context: context)
        context.fireChannelActive()
    }
}
