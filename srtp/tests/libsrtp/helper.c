/* Line-oriented bridge to libsrtp 2 for the cross-check test in ../libsrtp.rs.
 *
 * Usage: helper PROFILE KEY_AND_SALT_HEX
 * Reads commands on stdin, one per line, and answers each with one line:
 *   P <hex>   protect RTP        -> <hex> | ERR <status>
 *   U <hex>   unprotect RTP      -> <hex> | ERR <status>
 *   PC <hex>  protect RTCP       -> <hex> | ERR <status>
 *   UC <hex>  unprotect RTCP     -> <hex> | ERR <status>
 * Protection uses an outbound session, unprotection an inbound one, both with the given key. */
#include <srtp2/srtp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PACKET 4096

static int unhex(const char *s, unsigned char *out, int max) {
    int n = 0;
    while (s[0] && s[1] && s[0] != '\n' && n < max) {
        unsigned int b;
        if (sscanf(s, "%2x", &b) != 1) return -1;
        out[n++] = (unsigned char)b;
        s += 2;
    }
    return n;
}

static void set_policy(srtp_policy_t *p, const char *profile) {
    if (!strcmp(profile, "AES128_CM_HMAC_SHA1_80")) {
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtcp);
    } else if (!strcmp(profile, "AES128_CM_HMAC_SHA1_32")) {
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&p->rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtcp);
    } else if (!strcmp(profile, "AEAD_AES_128_GCM")) {
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtcp);
    } else if (!strcmp(profile, "AEAD_AES_256_GCM")) {
        srtp_crypto_policy_set_aes_gcm_256_16_auth(&p->rtp);
        srtp_crypto_policy_set_aes_gcm_256_16_auth(&p->rtcp);
    } else {
        fprintf(stderr, "unknown profile %s\n", profile);
        exit(2);
    }
}

int main(int argc, char **argv) {
    static unsigned char key[64];
    static char line[2 * MAX_PACKET + 16];
    static unsigned char buf[MAX_PACKET + SRTP_MAX_TRAILER_LEN];
    srtp_t tx, rx;
    srtp_policy_t policy;

    if (argc != 3) return 2;
    if (srtp_init() != srtp_err_status_ok) return 3;
    if (unhex(argv[2], key, sizeof key) <= 0) return 2;

    memset(&policy, 0, sizeof policy);
    set_policy(&policy, argv[1]);
    policy.key = key;
    policy.window_size = 1024;
    policy.allow_repeat_tx = 0;
    policy.next = NULL;
    policy.ssrc.type = ssrc_any_outbound;
    if (srtp_create(&tx, &policy) != srtp_err_status_ok) return 4;
    policy.ssrc.type = ssrc_any_inbound;
    if (srtp_create(&rx, &policy) != srtp_err_status_ok) return 4;

    setvbuf(stdout, NULL, _IOLBF, 0);
    while (fgets(line, sizeof line, stdin)) {
        char *sp = strchr(line, ' ');
        int len, i;
        srtp_err_status_t st;
        if (!sp) return 5;
        *sp = 0;
        len = unhex(sp + 1, buf, MAX_PACKET);
        if (len < 0) return 5;
        if (!strcmp(line, "P")) st = srtp_protect(tx, buf, &len);
        else if (!strcmp(line, "U")) st = srtp_unprotect(rx, buf, &len);
        else if (!strcmp(line, "PC")) st = srtp_protect_rtcp(tx, buf, &len);
        else if (!strcmp(line, "UC")) st = srtp_unprotect_rtcp(rx, buf, &len);
        else return 5;
        if (st != srtp_err_status_ok) {
            printf("ERR %d\n", (int)st);
            continue;
        }
        for (i = 0; i < len; i++) printf("%02x", buf[i]);
        printf("\n");
    }
    return 0;
}
