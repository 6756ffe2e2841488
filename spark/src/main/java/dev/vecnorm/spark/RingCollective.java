package dev.vecnorm.spark;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.Objects;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.BarrierTaskInfo;
import org.apache.spark.util.TaskCompletionListener;
import org.apache.spark.util.TaskFailureListener;

/**
 * All-gather and all-reduce between the replicas of one Spark barrier stage, over direct TCP in a ring.
 *
 * <p>Rendezvous takes one {@link BarrierTaskContext#allGather} of {@code host:port} strings; after it, every
 * round goes straight from a replica to the next one. Spark's own {@code allGather} is not used for data: it
 * answers about once a second whatever the payload (its driver polls in a 1 s loop), while a TCP round here
 * takes a fraction of a millisecond. Rank is the partition id. In the ring each replica sends to
 * {@code rank + 1} and receives from {@code rank - 1}, so a round of {@code R} replicas takes {@code R - 1}
 * steps and a replica sends {@code (R - 1) / R} of the data per all-reduce, whatever {@code R}: the cost per
 * replica does not grow with the replica count (the bandwidth-optimal ring of Patarasuk and Yuan, as NCCL and Horovod).
 *
 * <p>Every replica gets the same bits: an all-gather returns the contributions by rank, and the all-reduce
 * computes each chunk's sum on one replica and copies it to the others.
 *
 * <p>Failure: every wait is bounded by the timeout, counted from the last byte that moved, so a replica
 * that dies (its sockets close: the neighbours read end-of-stream) or stalls (nothing moves) makes its
 * neighbours throw {@link IllegalStateException} naming the peer, the operation and the round; they close
 * their sockets in turn, so the failure goes round the ring in one hop per replica. {@link #abort} does the
 * same from another thread, and the cancellation check (Spark's {@code killTaskIfInterrupted}) runs every
 * {@value #POLL_MILLIS} ms while waiting, so a stage that Spark kills releases its replicas at once.
 * Not thread-safe: one replica calls it from one thread, except {@link #abort}.
 */
public final class RingCollective implements AutoCloseable {
  /** How often a waiting replica checks for cancellation: short enough to feel immediate, long enough to cost nothing. */
  static final int POLL_MILLIS = 50;

  private final int rank, size;
  private final long timeoutNanos;
  private final Runnable cancellationCheck;
  private final SocketChannel next, prev;
  private final Selector selector;
  private final SelectionKey nextKey, prevKey;
  private volatile Throwable abortCause;
  private volatile boolean closed;
  private long rounds, busyNanos;
  private String operation = "";
  private ByteBuffer sendBuffer = ByteBuffer.allocateDirect(0).order(ByteOrder.LITTLE_ENDIAN);
  private ByteBuffer receiveBuffer = ByteBuffer.allocateDirect(0).order(ByteOrder.LITTLE_ENDIAN);

  private RingCollective(int rank, int size, Duration timeout, Runnable cancellationCheck, SocketChannel next, SocketChannel prev)
      throws IOException {
    this.rank = rank;
    this.size = size;
    this.timeoutNanos = timeout.toNanos();
    this.cancellationCheck = cancellationCheck;
    this.next = next;
    this.prev = prev;
    if (size > 1) {
      selector = Selector.open();
      next.configureBlocking(false);
      prev.configureBlocking(false);
      nextKey = next.register(selector, 0);
      prevKey = prev.register(selector, 0);
    } else {
      selector = null;
      nextKey = prevKey = null;
    }
  }

  /**
   * Joins the ring of the calling barrier task. Every task of the stage must call it (it contains one
   * {@code allGather}). The ring is aborted when the task fails and closed when it completes.
   *
   * @param context the barrier task's context; not null
   * @param timeout how long any wait may last without progress; positive
   * @return this replica's end of the ring
   */
  public static RingCollective join(BarrierTaskContext context, Duration timeout) {
    Objects.requireNonNull(context, "context");
    BarrierTaskInfo[] infos = context.getTaskInfos();
    // The executor's address as Spark knows it: reachable from the other executors of the stage.
    String host = infos[context.partitionId()].address();
    if (host.lastIndexOf(':') > 0) host = host.substring(0, host.lastIndexOf(':'));
    RingCollective ring = join(context.partitionId(), infos.length, host, timeout, context::killTaskIfInterrupted, context::allGather);
    context.addTaskFailureListener((TaskFailureListener) (ctx, error) -> ring.abort(error));
    context.addTaskCompletionListener((TaskCompletionListener) ctx -> ring.close());
    return ring;
  }

  /** The exchange of addresses: Spark's allGather in a stage, anything equivalent in tests. */
  @FunctionalInterface
  interface AddressExchange {
    String[] allGather(String mine);
  }

  /**
   * Opens a listening port, exchanges {@code host:port} with every replica, connects to {@code rank + 1}
   * and accepts {@code rank - 1}. A connecting replica sends its rank first, so a stray connection fails the join instead of entering the ring.
   */
  static RingCollective join(int rank, int size, String host, Duration timeout, Runnable cancellationCheck, AddressExchange exchange) {
    if (size < 1) throw new IllegalArgumentException("size must be >= 1, got " + size);
    if (rank < 0 || rank >= size) throw new IllegalArgumentException("rank must be in [0, " + size + "), got " + rank);
    if (timeout.isNegative() || timeout.isZero()) throw new IllegalArgumentException("timeout must be positive, got " + timeout);
    if (size == 1) {
      try {
        return new RingCollective(0, 1, timeout, cancellationCheck, null, null);
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
    }
    int millis = (int) Math.min(Integer.MAX_VALUE, Math.max(1, timeout.toMillis()));
    SocketChannel next = null, prev = null;
    try (ServerSocketChannel server = ServerSocketChannel.open()) {
      server.bind(new InetSocketAddress(0));
      String[] addresses = exchange.allGather(host + ":" + ((InetSocketAddress) server.getLocalAddress()).getPort());
      if (addresses.length != size) throw new IllegalStateException("expected " + size + " addresses, got " + addresses.length);
      String to = addresses[(rank + 1) % size];
      int colon = to.lastIndexOf(':');
      // Connect first, then accept: the listen backlog completes every connect before anyone accepts, so no cycle waits.
      next = SocketChannel.open();
      next.socket().connect(new InetSocketAddress(to.substring(0, colon), Integer.parseInt(to.substring(colon + 1))), millis);
      next.socket().setTcpNoDelay(true);
      next.write(ByteBuffer.allocate(4).putInt(0, rank));
      server.socket().setSoTimeout(millis);
      Socket accepted = server.socket().accept();
      prev = accepted.getChannel();
      prev.socket().setTcpNoDelay(true);
      accepted.setSoTimeout(millis);
      ByteBuffer hello = ByteBuffer.allocate(4);
      var in = accepted.getInputStream();
      for (int i = 0; i < 4; i++) {
        int b = in.read();
        if (b < 0) throw new IOException("the connection from rank " + (rank - 1 + size) % size + " closed during the handshake");
        hello.put((byte) b);
      }
      int from = hello.getInt(0);
      if (from != (rank - 1 + size) % size) throw new IOException("expected rank " + (rank - 1 + size) % size + " to connect, got rank " + from);
      return new RingCollective(rank, size, timeout, cancellationCheck, next, prev);
    } catch (SocketTimeoutException e) {
      closeQuietly(next, prev);
      throw new IllegalStateException("rank " + rank + " of " + size + ": the ring did not form within " + timeout, e);
    } catch (IOException | RuntimeException e) {
      closeQuietly(next, prev);
      throw new IllegalStateException("rank " + rank + " of " + size + ": could not join the ring: " + e.getMessage(), e);
    }
  }

  /**
   * This replica's index (the partition id).
   *
   * @return the rank, from 0 to {@code size() - 1}
   */
  public int rank() {
    return rank;
  }

  /**
   * The number of replicas in the ring.
   *
   * @return the replica count
   */
  public int size() {
    return size;
  }

  /**
   * The longest any wait may last without a byte moving.
   *
   * @return the timeout
   */
  public Duration timeout() {
    return Duration.ofNanos(timeoutNanos);
  }

  /**
   * Rounds run so far: one per {@link #allGather} or {@link #allReduceSum} call.
   *
   * @return the number of rounds
   */
  public long rounds() {
    return rounds;
  }

  /**
   * Wall time spent inside {@link #allGather} and {@link #allReduceSum} so far (waiting for the others included).
   *
   * @return nanoseconds
   */
  public long busyNanos() {
    return busyNanos;
  }

  /**
   * Every replica's bytes, by rank. Contributions may differ in length.
   *
   * @param mine this replica's contribution; not null, not modified
   * @return {@code size()} arrays; element {@code rank()} is a copy of {@code mine}
   */
  public byte[][] allGather(byte[] mine) {
    Objects.requireNonNull(mine, "mine");
    long start = begin("all-gather");
    try {
      return gather(mine);
    } finally {
      busyNanos += System.nanoTime() - start;
    }
  }

  private byte[][] gather(byte[] mine) {
    byte[][] all = new byte[size][];
    all[rank] = mine.clone();
    // Step s: pass on the block of rank - s (received in the step before), receive the block of rank - s - 1.
    ByteBuffer header = ByteBuffer.allocate(4), peerHeader = ByteBuffer.allocate(4);
    for (int s = 0; s < size - 1; s++) {
      byte[] out = all[Math.floorMod(rank - s, size)];
      header.clear();
      header.putInt(0, out.length);
      peerHeader.clear();
      exchange(header, peerHeader);
      int length = peerHeader.getInt(0);
      if (length < 0) throw failure("a negative block length " + length + " from rank " + Math.floorMod(rank - 1, size), null);
      byte[] in = new byte[length];
      exchange(ByteBuffer.wrap(out), ByteBuffer.wrap(in));
      all[Math.floorMod(rank - s - 1, size)] = in;
    }
    return all;
  }

  /**
   * In-place sum over the replicas, element by element (ring reduce-scatter, then ring all-gather). Every
   * replica must pass the same length. Every replica ends with the same bits: each chunk is summed on one
   * replica and copied to the others.
   *
   * @param data this replica's values; replaced by the sums
   */
  public void allReduceSum(float[] data) {
    Objects.requireNonNull(data, "data");
    long start = begin("all-reduce");
    try {
      if (size > 1) reduce(data);
    } finally {
      busyNanos += System.nanoTime() - start;
    }
  }

  private void reduce(float[] data) {
    int n = data.length;
    ByteBuffer header = ByteBuffer.allocate(4).putInt(0, n), peerHeader = ByteBuffer.allocate(4);
    exchange(header, peerHeader);
    if (peerHeader.getInt(0) != n) {
      throw failure("rank " + Math.floorMod(rank - 1, size) + " all-reduces " + peerHeader.getInt(0) + " floats, this rank " + n, null);
    }
    int maxChunk = (n + size - 1) / size;
    ensureBuffers(maxChunk * Float.BYTES);
    for (int s = 0; s < size - 1; s++) {
      int send = Math.floorMod(rank - s, size), receive = Math.floorMod(rank - s - 1, size);
      exchangeChunks(data, send, receive, n);
      var received = receiveBuffer.flip().asFloatBuffer();
      for (int i = chunkStart(receive, n), end = chunkStart(receive + 1, n); i < end; i++) data[i] += received.get();
    }
    // Now this rank holds the full sum of chunk rank + 1; pass the finished chunks round the ring.
    for (int s = 0; s < size - 1; s++) {
      int send = Math.floorMod(rank + 1 - s, size), receive = Math.floorMod(rank - s, size);
      exchangeChunks(data, send, receive, n);
      receiveBuffer.flip().asFloatBuffer().get(data, chunkStart(receive, n), chunkStart(receive + 1, n) - chunkStart(receive, n));
    }
  }

  /**
   * Rank {@code root}'s bytes on every replica (the others' arguments are ignored).
   *
   * @param root the sending rank
   * @param data the bytes on {@code root}; ignored elsewhere (may be null there)
   * @return a copy of root's bytes
   */
  public byte[] broadcast(int root, byte[] data) {
    if (root < 0 || root >= size) throw new IllegalArgumentException("root must be in [0, " + size + "), got " + root);
    // An all-gather in which only root contributes: root's block makes R - 1 hops, the others are empty.
    return allGather(rank == root ? Objects.requireNonNull(data, "data") : new byte[0])[root];
  }

  /** Chunk c of n elements is [c*n/R, (c+1)*n/R): sizes differ by at most one. */
  private int chunkStart(int chunk, int n) {
    return (int) ((long) n * chunk / size);
  }

  private void exchangeChunks(float[] data, int send, int receive, int n) {
    int from = chunkStart(send, n), to = chunkStart(send + 1, n);
    sendBuffer.clear();
    sendBuffer.asFloatBuffer().put(data, from, to - from);
    sendBuffer.limit((to - from) * Float.BYTES);
    receiveBuffer.clear();
    receiveBuffer.limit((chunkStart(receive + 1, n) - chunkStart(receive, n)) * Float.BYTES);
    exchange(sendBuffer, receiveBuffer);
  }

  private void ensureBuffers(int bytes) {
    if (sendBuffer.capacity() < bytes) {
      sendBuffer = ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN);
      receiveBuffer = ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN);
    }
  }

  private long begin(String op) {
    if (closed) throw new IllegalStateException("rank " + rank + " of " + size + ": the ring is " + (abortCause != null ? "aborted" : "closed"), abortCause);
    rounds++;
    operation = op;
    return System.nanoTime();
  }

  /**
   * Writes all of {@code out} to the next rank while reading {@code in} full from the previous one, both at
   * once: a replica that only wrote would block on a full socket buffer while its peer blocks the same way.
   */
  private void exchange(ByteBuffer out, ByteBuffer in) {
    long lastProgress = System.nanoTime();
    try {
      while (true) {
        long moved = 0;
        if (out.hasRemaining()) moved += next.write(out);
        if (in.hasRemaining()) {
          int read = prev.read(in);
          if (read < 0) throw failure("rank " + Math.floorMod(rank - 1, size) + " closed the connection (it failed or was killed)", null);
          moved += read;
        }
        if (!out.hasRemaining() && !in.hasRemaining()) return;
        long now = System.nanoTime();
        if (moved > 0) lastProgress = now;
        else if (now - lastProgress > timeoutNanos) {
          throw failure("no progress for " + Duration.ofNanos(timeoutNanos).toMillis() + " ms waiting for rank "
              + Math.floorMod(in.hasRemaining() ? rank - 1 : rank + 1, size) + " (it stalled or died)", null);
        }
        nextKey.interestOps(out.hasRemaining() ? SelectionKey.OP_WRITE : 0);
        prevKey.interestOps(in.hasRemaining() ? SelectionKey.OP_READ : 0);
        long waitMillis = Math.max(1, Math.min(POLL_MILLIS, (timeoutNanos - (now - lastProgress)) / 1_000_000));
        selector.select(waitMillis);
        selector.selectedKeys().clear();
        if (closed) throw failure("aborted", abortCause);
        cancellationCheck.run();
      }
    } catch (ClosedChannelException | java.nio.channels.ClosedSelectorException e) {
      throw failure(abortCause != null ? "aborted" : "closed while waiting", abortCause != null ? abortCause : e);
    } catch (IOException e) {
      throw failure("connection failed: " + e.getMessage(), e);
    } catch (IllegalStateException e) {
      abort(e);
      throw e;
    } catch (RuntimeException e) {
      abort(e); // e.g. Spark's TaskKilledException from the cancellation check
      throw e;
    }
  }

  private IllegalStateException failure(String what, Throwable cause) {
    IllegalStateException e = new IllegalStateException("rank " + rank + " of " + size + ", " + operation + " round " + rounds + ": " + what, cause);
    abort(e);
    return e;
  }

  /**
   * Fails the pending call, if any, and every later one; closes the sockets, so the neighbours fail at once
   * too and the failure goes round the ring. Safe from any thread; idempotent.
   *
   * @param cause why, kept as the cause of the exceptions; may be null
   */
  public void abort(Throwable cause) {
    if (abortCause == null && cause != null) abortCause = cause;
    shutdown();
  }

  /** Closes the sockets after the last round; idempotent. */
  @Override
  public void close() {
    shutdown();
  }

  private synchronized void shutdown() {
    if (closed) return;
    closed = true;
    if (selector != null) selector.wakeup();
    closeQuietly(next, prev);
    if (selector != null) {
      try {
        selector.close();
      } catch (IOException ignored) {
        // closing: nothing left to release
      }
    }
  }

  private static void closeQuietly(AutoCloseable... resources) {
    for (AutoCloseable r : resources) {
      if (r == null) continue;
      try {
        r.close();
      } catch (Exception ignored) {
        // best effort on the way out
      }
    }
  }
}
