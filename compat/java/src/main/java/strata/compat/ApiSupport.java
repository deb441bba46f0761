package strata.compat;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code ApiSupport <bootstrap> <ApiName>...}: asks the broker which APIs it serves (one ApiVersions
 * v0 request on a plain socket, the one form every broker answers, even with UNSUPPORTED_VERSION)
 * and exits 0 if it advertises every API named, 3 if it lacks one (printing which), 1 if the
 * broker could not be asked. compat/java.sh uses it to tell "this broker has no transactions yet"
 * (a SKIPPED check) from a failure of the transaction checks.
 *
 * Not a check itself: it prints one line and no PASS/FAILED.
 */
public final class ApiSupport {
    /** The API keys of Kafka's protocol this probe can be asked about, by their Kafka names. */
    private static final Map<String, Short> KEYS = Map.of(
        "FindCoordinator", (short) 10,
        "InitProducerId", (short) 22,
        "AddPartitionsToTxn", (short) 24,
        "AddOffsetsToTxn", (short) 25,
        "EndTxn", (short) 26,
        "TxnOffsetCommit", (short) 28,
        "CreateTopics", (short) 19,
        "DescribeProducers", (short) 61);

    private static final short API_VERSIONS = 18;
    private static final int RESPONSE_BYTES_MAX = 1 << 20;

    private ApiSupport() {}

    public static void main(String[] args) {
        try {
            Map<Short, short[]> served = apiVersions(args[0]);
            List<String> missing = new ArrayList<>();
            for (int i = 1; i < args.length; i++) {
                Short key = KEYS.get(args[i]);
                if (key == null) {
                    throw new IllegalArgumentException("unknown API name " + args[i] + " (known: " + KEYS.keySet() + ")");
                }
                if (!served.containsKey(key)) {
                    missing.add(args[i] + " (key " + key + ")");
                }
            }
            if (missing.isEmpty()) {
                System.out.println("the broker advertises " + String.join(", ", List.of(args).subList(1, args.length)));
                System.exit(0);
            }
            System.out.println("the broker does not advertise " + String.join(", ", missing) + " in ApiVersions");
            System.exit(3);
        } catch (Exception e) {
            System.out.println("ApiVersions probe of " + args[0] + " failed: " + e);
            System.exit(1);
        }
    }

    /** Sends ApiVersions v0 and returns the advertised {min, max} by API key. */
    static Map<Short, short[]> apiVersions(String bootstrap) throws IOException {
        String first = bootstrap.split(",")[0];
        int colon = first.lastIndexOf(':');
        String host = first.substring(0, colon);
        int port = Integer.parseInt(first.substring(colon + 1));
        byte[] clientId = "strata-compat-api-probe".getBytes(StandardCharsets.UTF_8);
        int correlationId = 7;
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(host, port), 10_000);
            socket.setSoTimeout(10_000);
            DataOutputStream out = new DataOutputStream(socket.getOutputStream());
            // Request header v1 (api key, version, correlation id, nullable client id); the v0 body is empty.
            out.writeInt(2 + 2 + 4 + 2 + clientId.length);
            out.writeShort(API_VERSIONS);
            out.writeShort(0);
            out.writeInt(correlationId);
            out.writeShort(clientId.length);
            out.write(clientId);
            out.flush();
            DataInputStream in = new DataInputStream(socket.getInputStream());
            int size = in.readInt();
            if (size < 4 + 2 + 4 || size > RESPONSE_BYTES_MAX) {
                throw new IOException("ApiVersions response of " + size + " bytes");
            }
            byte[] body = new byte[size];
            in.readFully(body);
            ByteBuffer buf = ByteBuffer.wrap(body);
            int gotCorrelation = buf.getInt();
            if (gotCorrelation != correlationId) {
                throw new IOException("correlation id " + gotCorrelation + ", expected " + correlationId);
            }
            short error = buf.getShort();
            // 35 UNSUPPORTED_VERSION still lists the APIs (so that the client can pick a version).
            if (error != 0 && error != 35) {
                throw new IOException("ApiVersions error code " + error);
            }
            int count = buf.getInt();
            if (count < 0 || count * 6 > buf.remaining()) {
                throw new IOException("ApiVersions lists " + count + " APIs in " + buf.remaining() + " bytes");
            }
            Map<Short, short[]> served = new HashMap<>();
            for (int i = 0; i < count; i++) {
                short key = buf.getShort();
                served.put(key, new short[] {buf.getShort(), buf.getShort()});
            }
            return served;
        }
    }
}
