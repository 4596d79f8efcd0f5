<?php

return [
    'name' => env('APP_NAME', 'Laravel'),
    'timezone' => env('APP_TIMEZONE', 'UTC'),
];
