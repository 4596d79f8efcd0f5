<?php

namespace DbBackup\Laravel;

/**
 * Checks a minisign signature (jedisct1/minisign: Ed25519, the file pre-hashed with BLAKE2b-512
 * for `ED` signatures) with PHP's own sodium extension. Only what minisign writes is accepted.
 */
class Minisign
{
    /**
     * Null when $signature (a .minisig file) is a valid signature of $data by $publicKey (the
     * base64 line of a minisign.pub); else why not, in a few words.
     */
    public static function verify($data, $signature, $publicKey)
    {
        if (! function_exists('sodium_crypto_sign_verify_detached')) {
            return 'PHP has no sodium extension to check the signature with';
        }
        $pk = base64_decode(trim((string) $publicKey), true);
        if ($pk === false || strlen($pk) !== 42 || substr($pk, 0, 2) !== 'Ed') {
            return 'the public key is not a minisign public key';
        }
        $lines = preg_split('/\r?\n/', trim((string) $signature));
        if (count($lines) < 4 || strpos($lines[0], 'untrusted comment:') !== 0
            || strpos($lines[2], 'trusted comment: ') !== 0) {
            return 'its signature file is not a minisign signature';
        }
        $sig = base64_decode($lines[1], true);
        $global = base64_decode($lines[3], true);
        if ($sig === false || strlen($sig) !== 74 || $global === false || strlen($global) !== 64) {
            return 'its signature file is not a minisign signature';
        }
        $algorithm = substr($sig, 0, 2);
        if (! hash_equals(substr($pk, 2, 8), substr($sig, 2, 8))) {
            return 'it is signed with another key than the pinned one';
        }
        $key = substr($pk, 10, 32);
        if ($algorithm === 'ED') {
            $message = sodium_crypto_generichash($data, '', 64);
        } elseif ($algorithm === 'Ed') {
            $message = $data;
        } else {
            return 'its signature uses an unknown algorithm';
        }
        if (! sodium_crypto_sign_verify_detached(substr($sig, 10, 64), $message, $key)) {
            return 'its signature does not match (altered, or not signed by the release key)';
        }
        $trusted = substr($lines[2], strlen('trusted comment: '));
        if (! sodium_crypto_sign_verify_detached($global, substr($sig, 10, 64) . $trusted, $key)) {
            return 'its signature\'s trusted comment does not match';
        }
        return null;
    }
}
