@failure-mode @scenario-join-permission-denied-none
Feature: Join permission denied none
  "Users may join devices to Microsoft Entra ID" is set to None; DRS refuses the join with 801c03ed.
  Guide section: You cannot join this device

  Scenario: Join permission denied none: the symptom
    Given the scenario "join-permission-denied-none"
    When the user tries to join the PC as the scenario describes
    Then Settings shows the error code "801c03ed"
    When the user restarts the PC and signs in with the Entra account
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : NO"
    And the device is not joined
    And the device is not enrolled in Intune

  Scenario: Join permission denied none: the fix repairs it
    Given the scenario "join-permission-denied-none"
    When the user tries to join the PC as the scenario describes
    And the admin applies the scenario's fix
    And the user disconnects if needed and joins again
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : YES"
    And the output shows "AzureAdPrt : YES"
    And the device is joined
    And the device is enrolled in Intune
